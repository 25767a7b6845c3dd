"""The tiny profile through SLURM: a one-node cluster on localhost (Debian's slurm-wlm and munge,
started by scripts/slurm_localhost.sh), `snakemake --profile workflow/profiles/slurm`, and the same
results as the local run."""

import json
import os
import subprocess

import pytest

from tests.conftest import REPO, snakemake, write_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slurm_conf(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(["bash", str(REPO / "scripts/slurm_localhost.sh"), "start", str(folder)],
                             capture_output=True, text=True, timeout=900)
    assert started.returncode == 0, started.stderr
    yield folder / "slurm.conf"
    subprocess.run(["bash", str(REPO / "scripts/slurm_localhost.sh"), "stop", str(folder)], timeout=60)


def comparable(metrics: dict) -> dict:
    """metrics.json without what differs between any two runs: the stage timings."""
    return {k: v for k, v in metrics.items() if k != "timings_s"}


def test_tiny_profile_through_slurm_equals_local_run(tiny_run, slurm_conf, tmp_path):
    work = write_params(tmp_path / "work")
    env = dict(os.environ, SLURM_CONF=str(slurm_conf))
    planned = snakemake(work, "--dry-run", "--quiet", "rules")
    jobs = {line.split()[0]: int(line.split()[1]) for line in planned.stdout.splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()}
    remote = sum(n for rule, n in jobs.items() if rule not in ("all", "total"))

    result = snakemake(work, "--profile", str(REPO / "workflow/profiles/slurm"), "--jobs", "4",
                       "--slurm-no-account", "--slurm-status-command", "squeue",
                       "--slurm-init-seconds-before-status-checks", "1", "--slurm-keep-successful-logs",
                       env=env)
    assert result.returncode == 0, result.stderr[-5000:]

    # Every job went through sbatch: slurmctld's job completion log and the plugin's per-rule logs.
    completed = [line for line in (slurm_conf.parent / "jobcomp.log").read_text().splitlines()
                 if "JobState=COMPLETED" in line and f"WorkDir={work}" in line]
    assert len(completed) == remote
    logged = {p.name.removeprefix("rule_") for p in (work / ".snakemake/slurm_logs").iterdir()}
    assert logged == set(jobs) - {"all", "total"}

    for name in ("scores/matrix.csv", "scores/policies.json", "explanations/diagnosis/unet/diagnosis.json"):
        assert (work / "results" / name).read_bytes() == (tiny_run / "results" / name).read_bytes(), name
    local, remote_metrics = (json.loads((w / "results/report/metrics.json").read_text()) for w in (tiny_run, work))
    assert comparable(remote_metrics) == comparable(local)
