"""Machine description and result writing shared by the benchmark scripts."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from realitygap.io import write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """Cores, CPU model and GPU (if any) of this machine."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    gpu = None
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "gpu": gpu, "python": platform.python_version()}


def commit() -> str:
    """The checkout's commit, `+changes` when the working tree differs from it: the code that was measured."""
    root = Path(__file__).resolve().parents[1]
    run = lambda *args: subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout.strip()  # noqa: E731
    head = run("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if run("status", "--porcelain", "--untracked-files=no") else "")


def save(name: str, command: str, figures: dict, **extra) -> Path:
    """Write bench/results/<name>.json with the command, machine, commit, date and figures."""
    path = RESULTS / f"{name}.json"
    write_json(path, {"command": command, "machine": machine(), "commit": commit(),
                      "date": dt.date.today().isoformat(), **extra, "figures": figures})
    return path
