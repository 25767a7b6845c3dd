"""Imports go one way (DESIGN.md section 8): stages over method libraries over a core, and no stage imports
another. Read from the syntax trees, imports inside functions included, as `codefiles` reads them: a rule's
code inputs are its stage's import closure, so a clean direction is what keeps partial reruns precise."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from realitygap.codefiles import source_files

ROOT = Path(__file__).resolve().parents[1] / "src" / "realitygap"

CORE_PACKAGES = {"render", "ingest"}
"""Core besides the top-level modules: the builtin renderer (params validates its factors) and the readers
of a user's data (ingest, and the render search's plugins, write datasets through them)."""
METHOD_PACKAGES = {"explain", "augment", "counterfactual", "chapters", "uda"}
"""Registries of methods: attribution methods and their scores, augmentation policies, the counterfactual
generator, self-training (the mean teacher), and the report chapters that `summarize` assembles. Their `stage` and `command` modules are a
stage."""
ENTRY = {"realitygap.cli", "realitygap.jobserver"}
"""The `realitygap` command and the job server that runs it in forks (`realitygap.preload`)."""
RANK = {"core": 0, "method": 1, "stage": 2, "entry": 3}


def module_name(path: Path) -> str:
    parts = ("realitygap", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> tuple[str, str | None]:
    """(layer, stage name) of a module of the package."""
    parts = module.split(".")
    if module in ENTRY:
        return "entry", None
    if len(parts) == 1 or not (ROOT / parts[1]).is_dir() or parts[1] in CORE_PACKAGES:
        return "core", None
    if parts[1] in METHOD_PACKAGES and parts[-1] not in ("stage", "command"):
        return "method", None
    return "stage", parts[1]


def imports(path: Path, source: str) -> list[tuple[int, str]]:
    """(line, absolute module) of every realitygap import in `source`, the text of `path`; `from a import b`
    names `a.b` when `b` is a module, else `a`."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                full = f"{base}.{alias.name}"
                is_module = (ROOT.joinpath(*full.split(".")[1:]).with_suffix(".py").is_file()
                             or (ROOT.joinpath(*full.split(".")[1:]) / "__init__.py").is_file())
                found.append((node.lineno, full if is_module else base))
    return [(line, name) for line, name in found if name.split(".")[0] == "realitygap"]


def violations(sources: dict[Path, str]) -> list[str]:
    """`file:line: who imports what` for each import against the direction."""
    found = []
    for path, source in sorted(sources.items()):
        here, stage = layer(module_name(path))
        for line, target in imports(path, source):
            there, other = layer(target)
            downward = RANK[there] < RANK[here] or (here == there != "stage")
            if not (downward or (there == "stage" and other == stage)):
                found.append(f"{path.relative_to(ROOT)}:{line}: {here} {stage or ''} imports {there} {target}")
    return found


def test_imports_go_one_way_and_no_stage_imports_another():
    assert violations({path: path.read_text() for path in ROOT.rglob("*.py")}) == []


@pytest.mark.parametrize("module, expected", [
    ("realitygap.io", ("core", None)), ("realitygap.render.domain", ("core", None)),
    ("realitygap.explain.gradcam", ("method", None)), ("realitygap.explain.stage", ("stage", "explain")),
    ("realitygap.augment.stage", ("stage", "augment")), ("realitygap.diagnose.stage", ("stage", "diagnose")),
    ("realitygap.chapters.instances", ("method", None)), ("realitygap.cli", ("entry", None))])
def test_layers_are_read_from_the_package_layout(module, expected):
    assert layer(module) == expected


def test_the_check_fails_on_imports_against_the_direction():
    """The check can fail: a stage importing another stage (inside a function too), a method importing a
    stage and the core importing a method are each reported with their line."""
    sources = {ROOT / "diagnose" / "probe.py": "import os\nfrom realitygap.explain.stage import run_explain\n",
               ROOT / "augment" / "probe.py": "def f():\n    from realitygap.train import stage\n",
               ROOT / "probe.py": "from realitygap.explain import gradcam\nfrom realitygap.render import domain\n"}
    assert violations(sources) == [
        "augment/probe.py:2: method  imports stage realitygap.train.stage",
        "diagnose/probe.py:2: stage diagnose imports stage realitygap.explain.stage",
        "probe.py:1: core  imports method realitygap.explain.gradcam"]


def test_explain_and_diagnosis_code_inputs_stay_apart():
    """Editing the diagnosis cannot rerun the explain jobs it reads, nor a stage's code another's."""
    explain = {Path(f).relative_to(ROOT).as_posix() for f in source_files("realitygap.explain.stage")}
    assert not {f for f in explain if f.startswith(("diagnose/", "predict/", "score/", "summarize/", "train/"))}


def test_no_function_in_the_package_is_over_60_lines():
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in sorted(ROOT.rglob("*.py")) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60]
    assert long == []
