"""DVC beside Snakemake: Snakemake runs the stages, DVC versions what they wrote.

`track` puts every output folder of the workflow under DVC (`dvc add`), so that a commit of the `.dvc`
files plus `dvc push` stores a whole run in a remote. `restore` is `dvc pull` followed by
`snakemake --touch`: DVC writes files in no particular order, so a restored input can look newer than
the outputs made from it and Snakemake would rerun them; touching the outputs in the DAG's order makes
the pulled run current again, and a clone reruns nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from realitygap.io import InputError

OUTPUTS = ("data/raw", "data/splits", "data/augmented", "data/probe", "data/pseudolabel", "results/models",
           "results/predictions", "results/scores", "results/explanations", "results/replicates", "results/simsearch",
           "results/experiments", "results/instances", "results/pseudolabel", "results/report")


def _tool(name: str) -> str:
    """The `name` executable beside this interpreter (the project's venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise InputError(f"`{name}` is not installed (it comes with `make run`/`make test`)")
    return found


def _run(cmd: list[str], cwd: Path) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode:
        raise InputError(f"{' '.join(cmd[:2])} failed in {cwd}:\n{result.stderr.strip() or result.stdout.strip()}")


def track(root: str | os.PathLike = ".") -> list[str]:
    """`dvc add` the workflow's output folders that exist under `root`; returns their `.dvc` files."""
    root = Path(root)
    if not (root / ".dvc").is_dir():
        raise InputError(f"{root} is not a DVC repository: run `dvc init` there first")
    present = [p for p in OUTPUTS if (root / p).is_dir()]
    if not present:
        raise InputError(f"no workflow outputs under {root}: run the workflow first")
    _run([_tool("dvc"), "add", "--quiet", *present], root)
    return [f"{p}.dvc" for p in present]


def restore(root: str | os.PathLike = ".", snakemake_args: list[str] | tuple[str, ...] = ()) -> None:
    """`dvc pull` the tracked outputs into `root`, then mark them current for Snakemake (`--touch`)."""
    root = Path(root)
    _run([_tool("dvc"), "pull", "--quiet"], root)
    _run([_tool("snakemake"), "--touch", "--cores", "1", *snakemake_args], root)


HELP = ("Version a run with DVC: `track` dvc-adds the workflow's outputs; `restore` pulls them and marks them "
        "current for Snakemake, so nothing reruns.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `realitygap dvc` (the command of this module)."""
    p.add_argument("action", choices=["track", "restore"])
    p.add_argument("--root", default=".", help="the workflow's working directory (a DVC repository)")
    p.add_argument("--snakefile", help="restore: the Snakefile, when it is not <root>/Snakefile")


def main(a: argparse.Namespace) -> None:
    if a.action == "track":
        print("\n".join(track(a.root)))
    else:
        restore(a.root, ["--snakefile", a.snakefile] if a.snakefile else [])
