"""Snakemake's job selection on a 2-core machine: its default ILP scheduler (a CBC solve at every
selection) against its greedy scheduler, on the tiny profile (the suite's end-to-end run: 250 short
jobs, where the selections weigh most) from scratch, alternating, median of repeats. Both honour the
rules' priorities.

Run: .venv/bin/python bench/scheduler.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from common import save

REPO = Path(__file__).resolve().parents[1]


def tiny_run(work: Path, scheduler: str) -> dict:
    """The tiny profile from scratch in a new folder with `--scheduler scheduler`: wall seconds, jobs."""
    folder = Path(tempfile.mkdtemp(prefix=f"{scheduler}_", dir=work))
    params = yaml.safe_load((REPO / "params.yaml").read_text()) | {"profile": "tiny"}
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    environment = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                             str(folder), "--cores", "2", "--scheduler", scheduler], env=environment,
                            capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    seconds = time.perf_counter() - started
    jobs = sum(1 for line in result.stderr.splitlines() if line.startswith("Finished jobid"))
    return {"wall_s": round(seconds, 1), "jobs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"ilp": [], "greedy": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for scheduler in runs:
                runs[scheduler].append(tiny_run(Path(tmp), scheduler))
                print(scheduler, runs[scheduler][-1], flush=True)
    medians = {s: statistics.median(r["wall_s"] for r in v) for s, v in runs.items()}
    figures = {"runs": runs, "median_wall_s": medians, "ratio_ilp_over_greedy": round(medians["ilp"] / medians["greedy"], 3)}
    print(save("scheduler", f"python bench/scheduler.py --repeats {args.repeats}", figures, peer="Snakemake's ILP scheduler"))


if __name__ == "__main__":
    main()
