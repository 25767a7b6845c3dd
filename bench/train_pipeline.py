"""What our data pipeline costs around the training step: `realitygap`'s mmengine Runner (PNG loading,
mmseg's transforms, collation, data preprocessor, loss, AdamW) against mmengine's bare `train_step` of the
same model, optimiser wrapper and a batch already in memory. Default UNet and budget shape (batch 8, 96 px,
one thread, as a workflow job runs), rendered `sim` images. Goal (issue 29): at most 5 % over the bare step.

Per iteration, from mmengine's own IterTimerHook: `time` (the loop's iteration) and `data_time` (waiting for
the loader), skipping the first iterations; the bare step is timed after the run, alternating with nothing.

Run: .venv/bin/python bench/train_pipeline.py [--iters 60]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import yaml

from common import save
from realitygap.classes import dataset_classes
from realitygap.data import load_samples
from realitygap.render.stage import run_render
from realitygap.runner import fit
from realitygap.split.stage import run_split

REPO = Path(__file__).resolve().parents[1]
MODEL = {"arch": "unet", "base_channels": 16, "num_stages": 4, "num_classes": 3}
SKIP = 5


def render(root: Path, size: int, count: int) -> tuple[Path, Path]:
    params = yaml.safe_load((REPO / "params.yaml").read_text())["render"]
    run_render("sim", {"size": size, "count": count, "scene": params["scene"], "factors": params["domains"]["sim"]},
               0, root / "sim")
    run_split(root / "sim", {"train": 0.8, "val": 0.1, "test": 0.1}, 0, root / "sim.json")
    return root / "sim", root / "sim.json"


def bare_step_s(runner, repeats: int) -> float:
    """mmengine's train_step of the trained runner's model on one batch held in memory."""
    batch = next(iter(runner.train_dataloader))
    model, wrapper = runner.model, runner.optim_wrapper
    model.train_step(batch, wrapper)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.train_step(batch, wrapper)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=60)
    parser.add_argument("--size", type=int, default=96)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = {"iters": args.iters, "batch_size": 8, "lr": 0.003, "weight_decay": 0.0001,
           "checkpoint_interval": args.iters, "loss": "weighted_ce"}
    with tempfile.TemporaryDirectory() as tmp:
        data, split = render(Path(tmp), args.size, 120)
        train, val = load_samples(data, split, "train"), load_samples(data, split, "val")
        started = time.perf_counter()
        runner = fit(MODEL, cfg, args.size, train, val, Path(tmp) / "work", 0, dataset_classes(data), "cpu")
        whole = time.perf_counter() - started
        history = runner.message_hub.get_scalar("train/time").data[0][SKIP:]
        waits = runner.message_hub.get_scalar("train/data_time").data[0][SKIP:]
        loop = float(statistics.median(history))
        bare = bare_step_s(runner, args.iters - SKIP)
    figures = {"iteration_s": round(loop, 4), "data_wait_s": round(float(statistics.median(waits)), 4),
               "bare_train_step_s": round(bare, 4), "overhead": round(loop / bare - 1, 3),
               "whole_run_s": round(whole, 2), "run_over_iterations": round(whole / (args.iters * loop) - 1, 3)}
    print(figures)
    print(save("train_pipeline", f"python bench/train_pipeline.py --iters {args.iters} --size {args.size}", figures,
               peer="mmengine's model.train_step on a batch in memory",
               note=f"UNet {MODEL}, batch 8 at {args.size} px, one thread, weighted_ce; medians after {SKIP} iterations; "
                    "run_over_iterations: the whole fit (runner build, validation, checkpoint) over the loop's time"))


if __name__ == "__main__":
    main()
