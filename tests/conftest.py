"""Shared fixtures: small scene parameters and a small untrained mmseg model."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]

SCENE = {"towels_min": 1, "towels_max": 2, "towel_size": [0.4, 0.7], "seam_width": [4.0, 6.0],
         "hem_inset": [2.0, 5.0], "inner_seam_prob": 0.5, "crumple": 3.0}
REAL = {"seam_contrast": 0.04, "seam_stitch": 0.5, "seam_ridge": 0.4, "fabric_texture": 0.25,
        "fold_shading": 0.35, "light_gradient": 0.5, "table_texture": 0.2, "table_photo": 0.6, "depth_of_field": 1.2,
        "chromatic_aberration": 1.5, "vignetting": 0.4, "noise_std": 0.03, "shot_noise": 0.002,
        "jpeg_quality": 60}
SIM = {"seam_contrast": 0.35, "seam_tint": 0.5}


def bench_classes():
    """The embedded benchmark's class set (the builtin renderer's)."""
    from realitygap.render.raster import RENDER_CLASSES
    return RENDER_CLASSES


@pytest.fixture
def render_cfg():
    def make(factors: dict, count: int = 12, size: int = 48) -> dict:
        return {"size": size, "count": count, "scene": SCENE, "factors": factors}
    return make


@pytest.fixture(scope="session")
def small_model():
    from realitygap.models import build_model

    torch.manual_seed(0)
    net = build_model({"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 3}, 48)
    return net.eval()


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """A rendered `sim` and `real` dataset with splits, shared by the stage tests."""
    from realitygap.render.stage import run_render
    from realitygap.split import run_split

    root = tmp_path_factory.mktemp("data")
    out = {}
    for domain, factors in (("sim", SIM), ("real", REAL)):
        cfg = {"size": 48, "count": 20, "scene": SCENE, "factors": factors}
        run_render(domain, cfg, 0, root / "raw" / domain)
        run_split(root / "raw" / domain, {"train": 0.6, "val": 0.1, "test": 0.3}, 0, root / "splits" / f"{domain}.json")
        out[domain] = (root / "raw" / domain, root / "splits" / f"{domain}.json")
    return out


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The workflow's command line for `workdir` (its own params.yaml), on 2 cores."""
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--cores", "2", *args]


def tools_env() -> dict:
    """This environment with this interpreter's tools (realitygap, dvc, snakemake) first on PATH."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def snakemake(workdir: Path, *args: str, umask: int = -1) -> subprocess.CompletedProcess:
    """Run the workflow in `workdir` to the end (under `umask` when given)."""
    return subprocess.run(snakemake_command(workdir, *args), capture_output=True, text=True, env=tools_env(),
                          timeout=2400, umask=umask)


def wait_for_checkpoint(work_dir: Path, proc: subprocess.Popen, timeout: float = 600) -> None:
    """Wait until training in `proc` has a resumable checkpoint in `work_dir`: mmengine names it in
    `last_checkpoint` once the file is complete (a bare `iter_*.pth` may still be half written)."""
    deadline = time.time() + timeout
    while not (work_dir / "last_checkpoint").is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)


def write_params(workdir: Path, profile: str = "tiny", **sections) -> Path:
    """`workdir/params.yaml`: the repository's params on `profile`, with top-level `sections` replaced."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(profile=profile, **sections)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return workdir


TINY_RUN_WALL_S: dict[str, float] = {}
"""The wall time of the tiny run (`seconds`), as the test suite measured it around Snakemake."""


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The whole workflow run once on the tiny profile, under umask 0022 as a shared cluster account would
    have it; shared by the workflow, rerun and cluster tests."""
    work = write_params(tmp_path_factory.mktemp("tiny"))
    started = time.perf_counter()
    result = snakemake(work, umask=0o022)
    TINY_RUN_WALL_S["seconds"] = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-5000:]
    return work
