"""Self-training on a domain our renderer never made: photo-like towels from an independent generator
(tests/photo_domain.py: wood table, woven check, warm spot light, stitched hems, JPEG).

Per seed: the sim model (the default profile's sim render, model and budget) and its self-trained version on the
photos' unlabeled train images (`uda` params of params.yaml, the student starting from the sim model), both
scored on the photos' test images against the generator's masks (which training never reads: the photos are
ingested unlabeled). The margin is UDA's mIoU minus the sim model's, paired by seed, with a Student-t 95 % CI.
Run: .venv/bin/python bench/uda_new_domain.py [--seeds 3 --size 96 --count 480 --photos 480 --iters 400]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

from common import save
from realitygap.classes import ClassSet
from realitygap.data import load_samples
from realitygap.inference import predict_samples
from realitygap.ingest import ingest_mask_folders, ingest_unlabeled
from realitygap.models import load_model
from realitygap.render.stage import run_render
from realitygap.segmentation_metrics import segmentation_scores
from realitygap.split import run_split
from realitygap.stats import mean_ci95
from realitygap.train import run_train

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.photo_domain import write_photos  # noqa: E402


def datasets(root: Path, params: dict, size: int, count: int, photos: int) -> dict:
    """The sim render, and the photos twice: unlabeled (what training sees) and labelled (what scores), one split."""
    classes = ClassSet.from_json(params["classes"])
    render = params["render"]
    run_render("sim", {"size": size, "count": count, "scene": render["scene"], "factors": render["domains"]["sim"]},
               0, root / "sim", jobs=2)
    run_split(root / "sim", {"train": 0.6, "val": 0.1, "test": 0.3}, 0, root / "sim.json")
    folder = write_photos(root / "inputs", photos, size, seed=123)
    ingest_unlabeled(folder / "images", classes, "photos", root / "photos")
    ingest_mask_folders(folder / "images", folder / "masks", {"0": classes.names[0], "1": classes.names[1],
                                                              "2": classes.names[2]}, classes, "photos", root / "labelled")
    run_split(root / "photos", {"train": 0.6, "val": 0.1, "test": 0.3}, 0, root / "photos.json")
    return {"sim": [{"dataset": str(root / "sim"), "split": str(root / "sim.json"), "fraction": 1.0}],
            "target": [{"dataset": str(root / "photos"), "split": str(root / "photos.json"), "fraction": 1.0}],
            "test": (root / "labelled", root / "photos.json"), "classes": classes}


def score(weights: Path, model: dict, size: int, test: tuple[Path, Path], classes: ClassSet) -> dict:
    net = load_model(weights, model, size, "cpu")
    pred, truth = predict_samples(net, load_samples(test[0], test[1], "test"))
    return segmentation_scores(pred, truth, classes.names)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--count", type=int, default=480)
    ap.add_argument("--photos", type=int, default=480)
    ap.add_argument("--iters", type=int, default=400)
    a = ap.parse_args()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    model = dict(params["train"]["models"][params["train"]["primary_model"]], num_classes=3)
    train = {k: params["train"][k] for k in ("batch_size", "lr", "weight_decay", "loss")} | {
        "iters": a.iters, "checkpoint_interval": a.iters}
    uda = {k: v for k, v in params["uda"].items() if k not in ("target", "mixes")}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = datasets(root, params, a.size, a.count, a.photos)
        for seed in range(a.seeds):
            started = time.time()
            run_train(data["sim"], data["sim"], model, train, a.size, seed, root / f"sim{seed}", mix="sim", name="unet")
            run_train(data["sim"], data["sim"], model, train, a.size, seed, root / f"uda{seed}", mix="uda_photos",
                      name="unet", target=data["target"], uda=uda, start=str(root / f"sim{seed}" / "model.pth"))
            sim, adapted = (score(root / f"{m}{seed}" / "model.pth", model, a.size, data["test"], data["classes"])
                            for m in ("sim", "uda"))
            rows.append({"seed": seed, "sim": sim, "uda": adapted, "seconds": round(time.time() - started, 1)})
            print(f"seed {seed}: sim {sim['mIoU']:.2f}, uda {adapted['mIoU']:.2f}", flush=True)
    margins = [r["uda"]["mIoU"] - r["sim"]["mIoU"] for r in rows]
    mean, ci = mean_ci95(margins)
    command = "bench/uda_new_domain.py " + " ".join(f"--{k} {v}" for k, v in vars(a).items())
    save("uda_new_domain", command, {"margin_mIoU": round(mean, 2), "margin_ci95": [round(c, 2) for c in ci] if ci else None,
                                     "sim_mIoU": [r["sim"]["mIoU"] for r in rows],
                                     "uda_mIoU": [r["uda"]["mIoU"] for r in rows]}, uda=uda, rows=rows)


if __name__ == "__main__":
    main()
