"""Outputs get the permissions the user's umask gives (issue 30): a shared results folder on a cluster
must be readable by the team, and a web server must be able to serve the report."""

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from realitygap.io import atomic_dir, current_umask, save_npz, write_json, write_png, write_text
from realitygap.models import save_weights


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_every_kind_of_output_honours_the_umask(tmp_path, umask):
    write_json(tmp_path / "metrics.json", {"a": 1})
    write_text(tmp_path / "report.html", "<html></html>")
    write_png(tmp_path / "figure.png", np.zeros((4, 4, 3), np.uint8))
    save_npz(tmp_path / "maps.npz", a=np.zeros(3))
    save_weights(torch.nn.Linear(2, 2), tmp_path / "model.pth")
    with atomic_dir(tmp_path / "dataset") as tmp:
        (tmp / "images").mkdir()
        write_png(tmp / "images" / "0.png", np.zeros((4, 4), np.uint8))
    for name in ("metrics.json", "report.html", "figure.png", "maps.npz", "model.pth", "dataset/images/0.png"):
        assert mode(tmp_path / name) == 0o666 & ~umask, name
    assert mode(tmp_path / "dataset") == 0o777 & ~umask
    assert current_umask() == umask                       # reading the umask left it as it was


def test_umask_0022_makes_the_report_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "report.html", "<html></html>")
    finally:
        os.umask(old)
    assert mode(tmp_path / "report.html") & stat.S_IROTH
