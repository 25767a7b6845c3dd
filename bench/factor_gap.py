"""Which planted difference makes the reality gap? Turn each nuisance factor of `real` off (and the
planted cue of `sim`), retrain, and measure the sim -> real gap in mIoU points.

gap(f) = mIoU(model trained on real_f, on real_f test) - mIoU(sim model, on real_f test), where real_f
is `real` rendered with factor f switched off (0). Pass a budget small enough for your machine:
at 64 px, 300 images and 300 iterations (about 1.5 minutes per row on 2 CPU cores) the real-trained
model is still weak (52 mIoU) and the default gap shrinks to 6 points, too small to rank factors;
the default profile's budget (96 px, 480 images, 400 iterations) keeps the 18-point gap.
Variants are paired: every `real` variant shows the same scenes with the same noise and its model
trains with the same seed, so a row differs from the default only by its factor (three seeds of the
default real model alone scored 63.0, 66.4 and 69.6 mIoU: unpaired rows would be mostly noise).
Run: .venv/bin/python bench/factor_gap.py [--size 96 --count 480 --iters 400]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from common import save
from realitygap.data import load_samples
from realitygap.models import forward_logits, load_model
from realitygap.inference import load_batch
from realitygap.render.stage import run_render
from realitygap.segmentation_metrics import segmentation_scores
from realitygap.split import run_split
from realitygap.train import run_train

SIZE, COUNT = 96, 480
MODEL = {"arch": "unet", "base_channels": 16, "num_stages": 4, "num_classes": 3}
TRAIN = {"iters": 400, "batch_size": 8, "lr": 0.003, "weight_decay": 0.0001, "checkpoint_interval": 400,
         "loss": "ce"}


def prepare(root: Path, name: str, scene: dict, factors: dict, domain: str) -> tuple[Path, Path]:
    """Render `domain` with `factors` into folder `name`: the domain name fixes the scenes and noise,
    so every variant of `real` shows the same scenes and differs only by its factors."""
    data = root / "raw" / name
    run_render(domain, {"size": SIZE, "count": COUNT, "scene": scene, "factors": factors}, 0, data, jobs=2)
    split = root / "splits" / f"{name}.json"
    run_split(data, {"train": 0.6, "val": 0.1, "test": 0.3}, 0, split)
    return data, split


def train(root: Path, name: str, data: tuple[Path, Path], mix: str) -> Path:
    """Train on `data`; the mix name fixes the training seed, shared by the variants of a domain."""
    source = [{"dataset": str(data[0]), "split": str(data[1]), "fraction": 1.0}]
    run_train(source, source, MODEL, TRAIN, SIZE, 0, root / "models" / name, mix=mix, name="unet")
    return root / "models" / name / "model.pth"


def miou(weights: Path, data: tuple[Path, Path]) -> float:
    net = load_model(weights, MODEL, SIZE)
    images, truth = load_batch(load_samples(data[0], data[1], "test"))
    with torch.no_grad():
        pred = forward_logits(net, torch.from_numpy(images)).argmax(1).numpy()
    return segmentation_scores(pred.astype(np.uint8), truth)["mIoU"]


def main() -> None:
    global SIZE, COUNT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--iters", type=int, default=TRAIN["iters"])
    args = parser.parse_args()
    SIZE, COUNT = args.size, args.count
    TRAIN.update(iters=args.iters, checkpoint_interval=args.iters)
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())["render"]
    scene, sim, real = params["scene"], params["domains"]["sim"], params["domains"]["real"]
    started = time.time()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sim_data = prepare(root, "sim", scene, sim, "sim")
        sim_model = train(root, "sim", sim_data, "sim")
        variants = {"none (default real)": real}
        variants.update({f"real: {f} off": {k: v for k, v in real.items() if k != f} for f in real})
        datasets = {}
        for label, factors in variants.items():
            name = label.split(":")[-1].strip().replace(" ", "_").replace("(", "").replace(")", "")
            data = datasets[label] = prepare(root, name, scene, factors, "real")
            own = miou(train(root, name, data, "real"), data)
            sim_on = miou(sim_model, data)
            rows[label] = {"real_f_on_real_f": own, "sim_on_real_f": sim_on, "gap_points": round(own - sim_on, 2)}
            print(label, rows[label], flush=True)
        no_tint = prepare(root, "sim_no_tint", scene, {k: v for k, v in sim.items() if k != "seam_tint"}, "sim")
        sim_on = miou(train(root, "sim_no_tint", no_tint, "sim"), datasets["none (default real)"])
        own = rows["none (default real)"]["real_f_on_real_f"]
        rows["sim: seam_tint (planted cue) off"] = {"real_f_on_real_f": own, "sim_on_real_f": sim_on,
                                                    "gap_points": round(own - sim_on, 2)}
    base = rows["none (default real)"]["gap_points"]
    for row in rows.values():
        row["gap_change"] = round(row["gap_points"] - base, 2)
    path = save("factor_gap", "python bench/factor_gap.py", rows, peer=None,
                budget={"size": SIZE, "images_per_domain": COUNT, "iters": TRAIN["iters"], "model": MODEL},
                elapsed_s=round(time.time() - started, 1))
    print(path)
    print("| factor turned off | gap (mIoU points) | change |\n|---|---|---|")
    for label, row in rows.items():
        print(f"| {label} | {row['gap_points']} | {row['gap_change']:+} |")


if __name__ == "__main__":
    main()
