"""Chapter: run time. Job-seconds per stage and the wall time of the run that wrote the report."""

from __future__ import annotations

import glob
import json
import os
import time
from pathlib import Path

from realitygap.chapters.base import Context, Section, table
from realitygap.io import read_json


def collect_timings(root: str | os.PathLike, run_record: str | os.PathLike | None = None,
                    now: float | None = None) -> dict:
    """Seconds per stage summed over the timing records the CLI leaves under `root` (job-seconds: jobs
    that ran side by side both count), their sum as `job_seconds_total`, and `total`: the wall time of the
    run that writes the report, from the start the workflow recorded in `run_record` (Snakemake's
    `onstart`) to `now`; without that record, from the earliest job's start."""
    totals: dict[str, float] = {}
    starts = []
    for path in sorted(glob.glob(os.path.join(root, "*.json"))):
        record = json.loads(Path(path).read_text())
        totals[record["stage"]] = round(totals.get(record["stage"], 0.0) + record["seconds"], 2)
        starts.append(record.get("started"))
    totals["job_seconds_total"] = round(sum(totals.values()), 2)
    if run_record and Path(run_record).is_file():
        started = read_json(run_record)["started"]
    else:
        started = min((s for s in starts if s is not None), default=None)
    now = time.time() if now is None else now
    totals["total"] = round(now - started, 2) if started is not None else 0.0
    return totals


def timing_rows(timings: dict) -> list[list]:
    """The run-time table: stages, their sum in job-seconds, then the run's wall time."""
    rows = [[k, v] for k, v in timings.items() if k not in ("job_seconds_total", "total")]
    return rows + [["all stages (job-seconds)", timings.get("job_seconds_total")],
                   ["run (wall time)", timings["total"]]]


def collect(ctx: Context, metrics: dict) -> None:
    metrics["timings_s"] = collect_timings(ctx.timings_dir, ctx.run_record)


def sections(ctx: Context, metrics: dict) -> list[Section]:
    return [Section("Run time", "Job-seconds per stage, summed over its jobs (jobs that ran side by side both "
                    "count), and the wall time of the run that wrote this report.",
                    table(["stage", "seconds"], timing_rows(metrics["timings_s"])))]
