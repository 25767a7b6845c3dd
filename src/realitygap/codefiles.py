"""The realitygap source files a stage runs, so that Snakemake rules can declare their code as input.

A rule that lists `source_files("realitygap.train.stage")` as input reruns when any module that stage
imports from realitygap changes (Snakemake's mtime trigger), and only then. The import graph is read
statically from the modules' syntax trees, imports inside functions included, so nothing is imported.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache
from pathlib import Path

PACKAGE = "realitygap"


@lru_cache(maxsize=None)
def _module_file(name: str) -> Path | None:
    """The source file of module `name` of this package, or None when `name` is not a module."""
    root = Path(importlib.util.find_spec(PACKAGE).origin).parent
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=None)
def _imported_names(name: str, path: Path) -> frozenset[str]:
    """Absolute names of what `path` imports (`from a import b` yields `a` and `a.b`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(names)


def _with_parents(name: str) -> list[str]:
    """`a.b.c` -> [`a`, `a.b`, `a.b.c`]: importing a module runs its packages' `__init__` first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@lru_cache(maxsize=None)
def source_files(*modules: str) -> tuple[str, ...]:
    """Sorted paths of the package's source files that importing `modules` can run."""
    seen: dict[str, Path] = {}
    todo = [parent for module in modules for parent in _with_parents(module)]
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if name in seen or path is None:
            continue
        seen[name] = path
        for imported in _imported_names(name, path):
            todo.extend(_with_parents(imported))
    missing = [m for m in modules if m not in seen]
    if missing:
        raise ModuleNotFoundError(f"not modules of {PACKAGE}: {', '.join(missing)}")
    return tuple(sorted({str(p) for p in seen.values()}))
