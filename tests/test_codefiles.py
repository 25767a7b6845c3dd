"""The code inputs of the rules: the package files a stage's module can import, found statically."""

import pytest

from realitygap.codefiles import source_files


def names(module: str) -> set[str]:
    return {path.split("src/realitygap/", 1)[1] for path in source_files(module)}


def test_a_stage_runs_its_own_modules_and_the_shared_ones_it_imports():
    train = names("realitygap.train.stage")
    assert {"__init__.py", "train/__init__.py", "train/stage.py", "runner.py", "seg_dataset.py", "resume.py",
            "models.py", "data.py", "io.py"} <= train
    assert not any(n.startswith(("explain/", "augment/", "summarize/", "score/")) for n in train)
    assert "cli.py" not in train


def test_relative_imports_resolve_against_the_package(tmp_path):
    from realitygap.codefiles import _imported_names

    module = tmp_path / "gradcam.py"
    module.write_text("from .base import Explainer\nfrom .. import io\n\ndef f():\n    import realitygap.data\n")
    assert _imported_names("realitygap.explain.gradcam", module) == {
        "realitygap.explain.base", "realitygap.explain.base.Explainer", "realitygap", "realitygap.io",
        "realitygap.data"}


def test_imports_inside_functions_count():
    # score.stage imports the explainers inside a function; explain/__init__ imports its methods
    assert {"explain/gradcam.py", "explain/rise.py", "explain/scores.py"} <= names("realitygap.score.stage")
    assert "explain/base.py" in names("realitygap.explain")


def test_summarize_does_not_depend_on_training_code():
    assert "train/stage.py" not in names("realitygap.summarize.stage")


def test_unknown_module_is_refused():
    with pytest.raises(ModuleNotFoundError, match="realitygap.nowhere"):
        source_files("realitygap.nowhere")
