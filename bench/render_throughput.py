"""Render throughput of the embedded benchmark at 128x128, per core and with --jobs scaling.

Target (issue 3): at least 50 images per second per core for each domain.
Run: .venv/bin/python bench/render_throughput.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import yaml

from common import save
from realitygap.render.stage import run_render

COUNT = 400


def main() -> None:
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())["render"]
    figures = {}
    for domain, factors in params["domains"].items():
        cfg = {"size": 128, "count": COUNT, "scene": params["scene"], "factors": factors}
        rates = {}
        for jobs in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                run_render(domain, cfg, 0, Path(tmp) / domain, jobs=jobs)
                rates[jobs] = COUNT / (time.perf_counter() - start)
        figures[domain] = {"images_per_s_1_job": round(rates[1], 1), "images_per_s_2_jobs": round(rates[2], 1),
                           "images_per_s_per_core": round(rates[1], 1),
                           "speedup_2_jobs_vs_1": round(rates[2] / rates[1], 2)}
    path = save("render", "python bench/render_throughput.py", figures, peer=None,
                note="written to disk (PNG images and masks, depth npz, metadata JSON), 128x128, "
                     f"{COUNT} images per run")
    print(path.read_text())


if __name__ == "__main__":
    main()
