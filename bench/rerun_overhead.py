"""No-op cost: how long `snakemake` takes to find that everything is up to date, on the current commit's
default DAG, its tiny DAG (the test suite's) and a DAG about ten times larger (more seeds and more
training mixes). The DAGs are built from the checkout's params.yaml each run, and the result names the
commit and each DAG's job count.

The outputs are placeholders (empty files and folders) made current with `snakemake --touch`, so the
timed runs do no work but the DAG, the params/code/input checks and the mtime comparisons. The DAGs are
timed in one run, alternating, median of repeats. Targets (issues 7, 30): under 5 s for the default DAG,
and the time grows no faster than the number of jobs.

Run: .venv/bin/python bench/rerun_overhead.py
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from common import save

REPO = Path(__file__).resolve().parents[1]
REPEATS = 5


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                             "--directory", str(workdir), "--cores", "2", *args],
                            capture_output=True, text=True, env=env)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return result


def larger(params: dict, seeds: int, extra_mixes: int) -> dict:
    """The default params with more gap-closure seeds and more sim+real<k> training mixes."""
    params["augment"]["seeds"] = seeds
    for k in range(1, extra_mixes + 1):
        params["train"]["mixes"][f"sim+real{100 + k}"] = {"sim": 1.0, "real": round(k / (extra_mixes + 1), 3)}
    return params


def prepare(workdir: Path, params: dict) -> int:
    """Placeholders for every output of the DAG, made current; returns the number of jobs."""
    workdir.mkdir(parents=True)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    plan = snakemake(workdir, "--dry-run").stdout
    jobs = int(re.search(r"^total\s+(\d+)$", plan, re.M).group(1))
    for outputs in re.findall(r"^    output: (.*)$", plan, re.M):
        for path in map(Path, outputs.split(", ")):
            target = workdir / path
            if path.suffix:                  # our file outputs all have one; directory() outputs none
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
            else:
                target.mkdir(parents=True, exist_ok=True)
    snakemake(workdir, "--touch")
    noop_seconds(workdir)                    # warm the file system cache once
    return jobs


def noop_seconds(workdir: Path) -> float:
    start = time.perf_counter()
    result = snakemake(workdir)
    elapsed = time.perf_counter() - start
    if "Nothing to be done" not in result.stdout + result.stderr:
        raise RuntimeError(f"{workdir}: the no-op run planned jobs")
    return elapsed


def main() -> None:
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        dags = {"default": prepare(Path(tmp) / "default", base),
                "tiny": prepare(Path(tmp) / "tiny", {**yaml.safe_load(yaml.safe_dump(base)), "profile": "tiny"}),
                "10x": prepare(Path(tmp) / "10x", larger(yaml.safe_load(yaml.safe_dump(base)), 20, 40))}
        times: dict[str, list[float]] = {name: [] for name in dags}
        for _ in range(REPEATS):
            for name in dags:
                times[name].append(noop_seconds(Path(tmp) / name))
    median = {name: statistics.median(t) for name, t in times.items()}
    figures = {name: {"jobs": dags[name], "noop_s": round(median[name], 2),
                      "noop_s_runs": [round(t, 2) for t in times[name]],
                      "ms_per_job": round(1000 * median[name] / dags[name], 2)} for name in dags}
    figures["jobs_ratio"] = round(dags["10x"] / dags["default"], 2)
    figures["time_ratio"] = round(median["10x"] / median["default"], 2)
    path = save("rerun_overhead", "python bench/rerun_overhead.py", figures, repeats=REPEATS,
                note="snakemake with every output current: DAG build, params/code/input checks, mtimes")
    print(path.read_text())


if __name__ == "__main__":
    main()
