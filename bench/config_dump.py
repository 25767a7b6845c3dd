"""What mmengine's config logging costs per training run: `Config.pretty_text` (yapf; mmengine calls it when
it logs the config and dumps it to the work folder) of our runner config with the sample list inline, as it
was, against the list written to a file (`runner.externalise_samples`), side by side, median of repeats. The
config: the default profile's `real` UNet training (its train and val splits, 64 px).

Run: .venv/bin/python bench/config_dump.py [--count 240]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml
from mmengine.config import Config

from common import save
from realitygap.classes import dataset_classes
from realitygap.data import load_samples
from realitygap.render.stage import run_render
from realitygap.runner import externalise_samples, runner_config
from realitygap.split.stage import run_split

REPO = Path(__file__).resolve().parents[1]
MODEL = {"arch": "unet", "base_channels": 16, "num_stages": 4, "num_classes": 3}
CFG = {"iters": 200, "batch_size": 8, "lr": 0.003, "weight_decay": 0.0001, "checkpoint_interval": 100,
       "loss": "weighted_ce"}


def seconds(config: dict, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        Config(config).pretty_text
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=240)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    params = yaml.safe_load((REPO / "params.yaml").read_text())["render"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_render("real", {"size": 64, "count": args.count, "scene": params["scene"],
                            "factors": params["domains"]["real"]}, 0, root / "real")
        run_split(root / "real", {"train": 0.6, "val": 0.1, "test": 0.3}, 0, root / "real.json")
        train, val = (load_samples(root / "real", root / "real.json", s) for s in ("train", "val"))
        config = runner_config(MODEL, CFG, 64, train, val, root / "work", 0, dataset_classes(root / "real"))
        inline = seconds(config, args.repeats)
        external = seconds(externalise_samples(config, root / "work"), args.repeats)
    figures = {"train_images": len(train), "val_images": len(val), "pretty_text_inline_s": round(inline, 3),
               "pretty_text_file_s": round(external, 3), "ratio": round(inline / external, 1)}
    print(figures)
    print(save("config_dump", f"python bench/config_dump.py --count {args.count}", figures,
               peer="the same config with its sample lists inline (before)",
               note="mmengine's Runner formats the config at least twice per run (log, dump)"))


if __name__ == "__main__":
    main()
