"""The report's assembly: the run-time figures and the numbering of the chapters' sections."""

import json
from pathlib import Path

from realitygap.chapters.base import Section, table
from realitygap.chapters.timings import collect_timings, rule_benchmarks, timing_rows
from realitygap.summarize.stage import write_documents


def record(folder: Path, name: str, stage: str, seconds: float, started: float) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"stage": stage, "out": name, "seconds": seconds,
                                                      "started": started}))


def test_total_is_the_wall_time_since_the_run_started_and_job_seconds_are_their_sum(tmp_path):
    timings = tmp_path / "timings"
    record(timings, "a", "train", 100.0, 1000.0)              # two jobs side by side: 180 job-seconds in 100 s
    record(timings, "b", "train", 80.0, 1010.0)
    record(timings, "c", "predict", 5.0, 1100.0)
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"started": 990.0}))
    out = collect_timings(timings, run, now=1110.0)
    assert out == {"train": 180.0, "predict": 5.0, "job_seconds_total": 185.0, "total": 120.0}
    assert collect_timings(timings, tmp_path / "none.json", now=1110.0)["total"] == 110.0   # earliest job's start
    assert timing_rows(out)[-2:] == [["all stages (job-seconds)", 185.0], ["run (wall time)", 120.0]]


def test_rule_benchmarks_sum_snakemake_s_records_per_rule(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    records = {"train/sim/unet.tsv": "61.5\t0:01:01\t900.1\t1\t1\t1\t0\t0\t95\t58.0",
               "train/real/unet.tsv": "70.25\t0:01:10\t1200.0\t1\t1\t1\t0\t0\t95\t66.5",
               "score_matrix.tsv": "1.0\t0:00:01\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA"}
    for name, row in records.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(header + row + "\n")
    rules = rule_benchmarks(tmp_path)
    assert list(rules) == ["train", "score_matrix"]                     # most wall time first
    assert rules["train"] == {"jobs": 2, "wall_s": 131.75, "cpu_s": 124.5, "max_rss_mb": 1200.0}
    assert rules["score_matrix"] == {"jobs": 1, "wall_s": 1.0, "cpu_s": 0.0, "max_rss_mb": 0.0}
    assert timing_rows({"train": 5.0, "rules": rules, "job_seconds_total": 5.0, "total": 9.0})[0] == ["train", 5.0]


def test_sections_are_numbered_in_order_whatever_is_left_out(tmp_path):
    figure = tmp_path / "f.png"
    figure.write_bytes(b"\x89PNG\r\n\x1a\n")
    sections = [Section("First", "one", table(["a"], [[1]])), Section("Second", "two", table(["b"], [[2.5]]), (figure,))]
    write_documents("Headline.", sections, {"seed": 0}, tmp_path)
    md = (tmp_path / "summary.md").read_text()
    assert "## 1. First" in md and "## 2. Second" in md and "| 2.50 |" in md and "![f.png](f.png)" in md
    page = (tmp_path / "report.html").read_text()
    assert page.index("<h2>1. First</h2>") < page.index("<h2>2. Second</h2>") and page.count("<img") == 1

