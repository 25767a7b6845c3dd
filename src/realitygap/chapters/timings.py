"""Chapter: run time. Job-seconds per stage, wall and CPU time per rule (Snakemake's benchmark records), and the
wall time of the run that wrote the report."""

from __future__ import annotations

import csv
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


def _number(value: str | None) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):          # Snakemake writes NA where it could not measure
        return 0.0


def rule_benchmarks(root: str | os.PathLike) -> dict:
    """Per rule: its jobs, their summed wall and CPU seconds and the largest resident memory (MB), from the
    benchmark TSV files Snakemake writes under `root/<rule>/...` (`benchmark:` of every rule). Jobs the job
    server ran (`realitygap.preload`) add their forked child's CPU time and memory from `root/<rule>/.preload`:
    Snakemake's record of them only sees the waiting client."""
    rules: dict[str, dict] = {}
    for path in sorted(Path(root).glob("**/*.tsv")):
        with open(path, newline="") as f:
            record = next(csv.DictReader(f, delimiter="\t"), None)
        if record is None:
            continue
        row = _rule_row(rules, path.relative_to(root).parts[0].removesuffix(".tsv"))
        row["jobs"] += 1
        row["wall_s"] = round(row["wall_s"] + _number(record.get("s")), 2)
        _add_usage(row, _number(record.get("cpu_time")), _number(record.get("max_rss")))
    for path in sorted(Path(root).glob("*/.preload/*.json")):
        usage = json.loads(path.read_text())
        _add_usage(_rule_row(rules, path.parts[-3]), usage["cpu_s"], usage["max_rss_mb"])
    return dict(sorted(rules.items(), key=lambda kv: -kv[1]["wall_s"]))


def _rule_row(rules: dict, rule: str) -> dict:
    return rules.setdefault(rule, {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0, "max_rss_mb": 0.0})


def _add_usage(row: dict, cpu_s: float, max_rss_mb: float) -> None:
    row["cpu_s"] = round(row["cpu_s"] + cpu_s, 2)
    row["max_rss_mb"] = round(max(row["max_rss_mb"], max_rss_mb), 1)


def timing_rows(timings: dict) -> list[list]:
    """The run-time table: stages, their sum in job-seconds, then the run's wall time."""
    rows = [[k, v] for k, v in timings.items() if k not in ("job_seconds_total", "total", "rules")]
    return rows + [["all stages (job-seconds)", timings.get("job_seconds_total")],
                   ["run (wall time)", timings["total"]]]


def collect(ctx: Context, metrics: dict) -> None:
    metrics["timings_s"] = collect_timings(ctx.timings_dir, ctx.run_record)
    if ctx.benchmarks_dir and Path(ctx.benchmarks_dir).is_dir():
        metrics["timings_s"]["rules"] = rule_benchmarks(ctx.benchmarks_dir)


def sections(ctx: Context, metrics: dict) -> list[Section]:
    out = [Section("Run time", "Job-seconds per stage, summed over its jobs (jobs that ran side by side both "
                   "count), and the wall time of the run that wrote this report.",
                   table(["stage", "seconds"], timing_rows(metrics["timings_s"])))]
    rules = metrics["timings_s"].get("rules")
    if rules:
        rows = [[name, r["jobs"], r["wall_s"], r["cpu_s"], r["max_rss_mb"]] for name, r in rules.items()]
        out.append(Section("Run time per rule", "Snakemake's benchmark of every job, summed per rule (most wall time "
                           "first): wall and CPU seconds, and the largest resident memory of one job. Jobs that ran in "
                           "an earlier run keep their records.",
                           table(["rule", "jobs", "wall s", "CPU s", "max RSS (MB)"], rows)))
    return out
