"""Changing one parameter reruns exactly the jobs that depend on it: after the tiny run, each change's
dry run must plan the same jobs as forcing the jobs that read the parameter (and, through Snakemake,
everything downstream of them), and nothing else."""

import os
import re
from pathlib import Path

import pytest
import yaml

from realitygap.codefiles import source_files
from tests.conftest import snakemake

pytestmark = pytest.mark.slow

BASE = ["sim", "real", "sim+real10"]

# stage: (parameter path, new value, the outputs of the jobs that read it)
CHANGES = {
    "render": ("render.domains.real.noise_std", 0.05, ["data/raw/real"]),
    "split": ("split.fractions", {"train": 0.5, "val": 0.2, "test": 0.3},
              ["data/splits/sim.json", "data/splits/real.json"]),
    "train": ("train.models.aspp.base_channels", 4, [f"results/models/{m}/aspp/model.pth" for m in BASE]),
    "explain": ("explain.options.rise.masks", 30, [f"results/explanations/{m}/unet/rise" for m in BASE]),
    "diagnose": ("diagnose.inpaint_radius", 5, ["results/explanations/diagnosis/unet/diagnosis.json"]),
    "score": ("score.deletion_steps", 8, ["score_explanations"]),
    "image_quality": ("image_quality.kid_subsets", 7, ["results/scores/image_quality.json"]),
    "frontier": ("frontier.steps", 4, ["results/explanations/frontier/unet"]),
    "augment": ("augment.policies.camera.vignetting", 0.2, ["data/augmented/camera", "data/augmented/camera_style"]),
    "simsearch": ("simsearch.iters", 6, ["results/simsearch/workers/0.json"]),
    "experiments": ("experiments.probe.num_images", 3, ["probe"]),
    "instances": ("instance.lr", 0.01, ["train_instances"]),
    "instance_augment": ("instance.augment.policies.baseline.magnitude", 0.3, ["data/augmented/instances/baseline"]),
    "pseudolabel": ("pseudolabel.crf.iterations", 5, ["pseudolabel"]),
    "pseudolabel_classifier": ("pseudolabel.classifier.crop", [0.2, 0.6], ["pseudolabel_classifier"]),
    "uda": ("uda.pseudo_threshold", 0.9, [f"results/{root}models/uda_{m}/unet/model.pth" for m in ("sim", "randomise", "pseudo")
                                          for root in ("", "replicates/seed1/")]),
    "summarize": ("summarize.attribution_images", 1, ["summarize"]),
}


def planned_jobs(workdir: Path, *args: str) -> set[tuple[str, str]]:
    """(rule, outputs) of every job a dry run plans."""
    result = snakemake(workdir, "--dry-run", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs, rule = set(), None
    for line in result.stdout.splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):$", line):
            rule = match.group(1)
            jobs.add((rule, ""))
        elif rule and line.startswith("    output: "):
            jobs.discard((rule, ""))
            jobs.add((rule, line[len("    output: "):]))
            rule = None
    return jobs


def set_param(params: dict, dotted: str, value) -> None:
    """Set a parameter where the tiny profile takes it from: its profile entry if it has one."""
    keys = dotted.split(".")
    for root in (params["profiles"]["tiny"], params):
        node = root
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and (keys[-1] in node or root is params):
            node[keys[-1]] = value
            return


def planned_after_change(workdir: Path, dotted: str, value) -> set[tuple[str, str]]:
    params_file = workdir / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    set_param(params, dotted, value)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        return planned_jobs(workdir)
    finally:
        params_file.write_text(original)


@pytest.mark.parametrize("stage", list(CHANGES))
def test_one_parameter_reruns_exactly_its_dependents(tiny_run, stage):
    dotted, value, readers = CHANGES[stage]
    changed = planned_after_change(tiny_run, dotted, value)
    forced = planned_jobs(tiny_run, "--forcerun", *readers)
    assert changed == forced
    rules = {rule for rule, _ in changed}
    assert "summarize" in rules                       # the report shows every parameter
    assert stage == "render" or "render" not in rules


def test_summarize_parameter_reruns_only_the_report(tiny_run):
    dotted, value, _ = CHANGES["summarize"]
    assert {rule for rule, _ in planned_after_change(tiny_run, dotted, value)} == {"summarize", "all"}


def test_cluster_resources_rerun_nothing(tiny_run):
    assert planned_after_change(tiny_run, "cluster.stages.train.mem_mb", 9000) == set()


def test_rules_declare_the_code_they_run(tiny_run):
    result = snakemake(tiny_run, "--dry-run", "--forcerun", "summarize", "train")
    summarize_inputs = next(line for line in result.stdout.split("rule summarize:")[1].splitlines()
                            if line.startswith("    input: "))
    for path in source_files("realitygap.summarize.stage"):
        assert path in summarize_inputs
    assert "train/stage.py" not in summarize_inputs


def test_editing_the_diagnosis_reruns_only_the_diagnosis_and_what_reads_it(tiny_run):
    """A change to diagnose/stage.py plans the same jobs as forcing the diagnosis (it, the XAI-guided policy
    built from its ranking, summarize) and no explain job: the explanations are the diagnosis' inputs, and
    before the stages stopped importing each other, explain's code inputs held the diagnosis' file."""
    stage_file = Path(next(f for f in source_files("realitygap.diagnose.stage") if f.endswith("diagnose/stage.py")))
    forced = planned_jobs(tiny_run, "--forcerun", "diagnose")
    original, before = stage_file.read_bytes(), stage_file.stat()
    # An edit that changes the content: Snakemake 9 ignores a newer mtime when the checksum is the same.
    stage_file.write_bytes(original + b"\n# an edit of the diagnosis' code (made and undone by a test)\n")
    try:
        changed = planned_jobs(tiny_run)
    finally:
        stage_file.write_bytes(original)
        os.utime(stage_file, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert changed == forced
    rules = {rule for rule, _ in changed}
    assert {"diagnose", "summarize"} <= rules
    assert not [out for rule, out in changed if rule == "explain" and "xai_guided" not in out]
