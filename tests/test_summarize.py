"""The report's assembly: the run-time figures and the numbering of the chapters' sections."""

import json
from pathlib import Path

from realitygap.chapters.base import Section, table
from realitygap.chapters.timings import collect_timings, timing_rows
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


def test_sections_are_numbered_in_order_whatever_is_left_out(tmp_path):
    figure = tmp_path / "f.png"
    figure.write_bytes(b"\x89PNG\r\n\x1a\n")
    sections = [Section("First", "one", table(["a"], [[1]])), Section("Second", "two", table(["b"], [[2.5]]), (figure,))]
    write_documents("Headline.", sections, {"seed": 0}, tmp_path)
    md = (tmp_path / "summary.md").read_text()
    assert "## 1. First" in md and "## 2. Second" in md and "| 2.50 |" in md and "![f.png](f.png)" in md
    page = (tmp_path / "report.html").read_text()
    assert page.index("<h2>1. First</h2>") < page.index("<h2>2. Second</h2>") and page.count("<img") == 1

