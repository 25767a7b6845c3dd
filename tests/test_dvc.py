"""DVC beside Snakemake: a tiny run is tracked, pushed to a local remote, pulled into a fresh clone that
reruns nothing, and `dvc metrics diff` shows the scores a parameter change moved."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from realitygap.versioning import OUTPUTS
from tests.conftest import REPO, snakemake

pytestmark = pytest.mark.slow

GIT = ["git", "-c", "user.email=ci@realitygap", "-c", "user.name=ci"]


def run(cmd: list[str], cwd: Path) -> str:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{cmd}: {result.stderr[-3000:]}"
    return result.stdout


def realitygap(*args: str, cwd: Path) -> str:
    return run([str(Path(sys.executable).parent / "realitygap"), *args], cwd)


@pytest.fixture(scope="module")
def tracked(tiny_run, tmp_path_factory):
    """A git + DVC repository holding the tiny run (outputs, Snakemake metadata, mtimes), pushed."""
    root = tmp_path_factory.mktemp("dvc")
    work, remote = root / "work", root / "remote"
    shutil.copytree(tiny_run, work, symlinks=True)
    shutil.copy2(REPO / "dvc.yaml", work)
    dvc = str(Path(sys.executable).parent / "dvc")
    run(["git", "init", "-q"], work)
    run([dvc, "init", "-q"], work)
    added = realitygap("dvc", "track", cwd=work).split()
    assert sorted(added) == sorted(f"{p}.dvc" for p in OUTPUTS)
    run([dvc, "remote", "add", "-d", "local", str(remote)], work)
    run([dvc, "push", "-q"], work)
    run(["git", "add", "params.yaml", "dvc.yaml", ".dvc", ".dvcignore", *added, "data/.gitignore",
         "results/.gitignore"], work)
    run(GIT + ["commit", "-qm", "tiny run"], work)
    return work, dvc


def test_fresh_clone_pulls_the_run_and_reruns_nothing(tracked, tmp_path):
    work, _ = tracked
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(work), str(clone)], tmp_path)
    assert not (clone / "results/report/metrics.json").exists()
    realitygap("dvc", "restore", "--snakefile", str(REPO / "Snakefile"), cwd=clone)
    for name in ("results/report/metrics.json", "results/models/real/unet/model.pth", "data/raw/sim/manifest.json"):
        assert (clone / name).read_bytes() == (work / name).read_bytes()
    planned = snakemake(clone, "--dry-run")
    assert planned.returncode == 0 and "Nothing to be done" in planned.stdout, planned.stdout[-3000:]


def test_metrics_diff_shows_the_scores_a_parameter_moved(tracked):
    work, dvc = tracked
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["score"]["deletion_steps"] = 8
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = snakemake(work)
    assert result.returncode == 0, result.stderr[-3000:]
    diff = json.loads(run([dvc, "metrics", "diff", "--json"], work))["results/report/metrics.json"]
    assert diff and {key.split(".")[0] for key in diff} <= {"explanations", "timings_s"}   # XAI scores moved
    assert any(key.endswith("deletion_auc") and v["diff"] for key, v in diff.items())
