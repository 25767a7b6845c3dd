"""The tiny profile's jobs through SLURM: a one-node cluster on localhost (Debian's slurm-wlm and munge,
started by scripts/slurm_localhost.sh), `snakemake --profile workflow/profiles/slurm`, and the same
results as the local run."""

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


def test_large_profile_sends_model_stages_to_gpu_nodes(tmp_path):
    """The resources each job would ask SLURM for come from params `cluster` (a dry run shows them)."""
    plan = snakemake(write_params(tmp_path, profile="large"), "--dry-run").stdout
    blocks = {block.split(":", 1)[0]: block for block in plan.split("\nrule ")[1:]}
    assert "gpu=1" in blocks["train"] and "slurm_partition=gpu" in blocks["train"]
    assert "mem_mb=32000" in blocks["train"] and "runtime=720" in blocks["train"]
    assert "gpu=" not in blocks["summarize"] and "slurm_partition=cpu" in blocks["summarize"]


# A slice of the tiny profile that has every kind of job the cluster must handle: rendering, splitting,
# training, explanations and the diagnosis (single jobs), predictions with their scores and the
# explanations' scores (the profile's groups). The whole DAG through sbatch would repeat the local run's
# ten minutes for no more coverage.
MIXES, METHODS = ("sim", "real"), ("gradcam", "saliency", "minmax_cam", "rise")
TARGETS = (["results/explanations/diagnosis/unet/diagnosis.json"]
           + [f"results/scores/segmentation/{mix}/unet/{domain}.json" for mix in MIXES for domain in MIXES]
           + [f"results/scores/explanations/{mix}/unet/{method}.json" for mix in MIXES for method in METHODS])


@pytest.mark.slow
def test_tiny_profile_through_slurm_equals_local_run(tiny_run, slurm_cluster, tmp_path):
    work = write_params(tmp_path / "work")
    planned = snakemake(work, "--dry-run", *TARGETS).stdout
    jobs = Counter(re.findall(r"^(?:local)?rule (\w+):$", planned, re.M))
    assert {"render", "split", "train", "explain", "diagnose", "predict", "score_segmentation",
            "score_explanations"} <= set(jobs)

    result = snakemake(work, "--profile", str(REPO / "workflow/profiles/slurm"), "--jobs", "8",
                       "--slurm-no-account", "--slurm-status-command", "squeue",
                       "--slurm-init-seconds-before-status-checks", "1", "--slurm-keep-successful-logs", *TARGETS)
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
    assert finished == jobs

    for name in TARGETS:
        assert (work / name).read_bytes() == (tiny_run / name).read_bytes(), name
