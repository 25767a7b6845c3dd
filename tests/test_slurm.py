"""The tiny profile through SLURM: a one-node cluster on localhost (Debian's slurm-wlm and munge,
started by scripts/slurm_localhost.sh), `snakemake --profile workflow/profiles/slurm`, and the same
results as the local run."""

import json
import re
import subprocess
from collections import Counter

import pytest

from tests.conftest import REPO, snakemake, write_params


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A running one-node cluster; its state, logs and job completion log are in the folder returned."""
    folder = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(["bash", str(REPO / "scripts/slurm_localhost.sh"), "start", str(folder)],
                             capture_output=True, text=True, timeout=900)
    assert started.returncode == 0, started.stderr
    yield folder
    subprocess.run(["bash", str(REPO / "scripts/slurm_localhost.sh"), "stop", str(folder)], timeout=60)


def comparable(metrics: dict) -> dict:
    """metrics.json without what differs between any two runs: the stage timings."""
    return {k: v for k, v in metrics.items() if k != "timings_s"}


def test_large_profile_sends_model_stages_to_gpu_nodes(tmp_path):
    """The resources each job would ask SLURM for come from params `cluster` (a dry run shows them)."""
    plan = snakemake(write_params(tmp_path, profile="large"), "--dry-run").stdout
    blocks = {block.split(":", 1)[0]: block for block in plan.split("\nrule ")[1:]}
    assert "gpu=1" in blocks["train"] and "slurm_partition=gpu" in blocks["train"]
    assert "mem_mb=32000" in blocks["train"] and "runtime=720" in blocks["train"]
    assert "gpu=" not in blocks["summarize"] and "slurm_partition=cpu" in blocks["summarize"]


@pytest.mark.slow
def test_tiny_profile_through_slurm_equals_local_run(tiny_run, slurm_cluster, tmp_path):
    work = write_params(tmp_path / "work")
    planned = snakemake(work, "--dry-run").stdout
    jobs = Counter(re.findall(r"^(?:local)?rule (\w+):$", planned, re.M))

    result = snakemake(work, "--profile", str(REPO / "workflow/profiles/slurm"), "--jobs", "8",
                       "--slurm-no-account", "--slurm-status-command", "squeue",
                       "--slurm-init-seconds-before-status-checks", "1", "--slurm-keep-successful-logs")
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]

    # Every job went through sbatch (alone, or with others of its group: the profile's `groups`), and
    # every submission completed in SLURM's job completion log.
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", log))
    completed = {re.search(r"JobId=(\d+)", line).group(1)
                 for line in (slurm_cluster / "jobcomp.log").read_text().splitlines()
                 if "JobState=COMPLETED" in line and f"WorkDir={work} " in line}
    assert submitted and submitted == completed
    assert len(submitted) < sum(jobs.values())                           # the small jobs were grouped
    finished = Counter(re.findall(r"^Finished jobid: \S+ \(Rule: (\w+)\)$", log, re.M))
    for counts in (jobs, finished):
        counts.pop("all", None)                                          # the local target rule
    assert finished == jobs

    for name in ("scores/matrix.csv", "scores/policies.json", "explanations/diagnosis/unet/diagnosis.json"):
        assert (work / "results" / name).read_bytes() == (tiny_run / "results" / name).read_bytes(), name
    local, remote_metrics = (json.loads((w / "results/report/metrics.json").read_text()) for w in (tiny_run, work))
    assert comparable(remote_metrics) == comparable(local)
