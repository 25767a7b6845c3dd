"""A cheap stand-in for the retraining truth of `bench/factor_truth.py`: instead of training a model from
scratch on `sim` rendered with one factor as in `real` (400 iterations per factor), fine-tune the frozen
`sim` model for a few iterations on it, and compare with the same fine-tuning on unmodified `sim`:

    probe(f) = mIoU_real_val(sim model tuned on sim_f) - mIoU_real_val(sim model tuned on sim)

Every fine-tuning of a seed starts from the same weights and draws the same batches (same scenes, same
seed), so the difference is the factor's. Scored on `real`'s validation images (the truth uses its test
images). Its ranking is compared with the truth's (Spearman over the single factors, top three), per seed
and on the means. Reuses the renders and `sim` models a `factor_truth.py --keep` run left.

Run: .venv/bin/python bench/finetune_probe.py --truth bench/results/factor_truth_partial.json
     [--keep /tmp/ft_default --seeds 2 --iters 60 --lr 0.001]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

from common import save
from factor_truth import budget, prepare
from realitygap.data import load_samples
from realitygap.inference import predict_samples
from realitygap.models import load_model
from realitygap.render.raster import RENDER_CLASSES
from realitygap.segmentation_metrics import segmentation_scores
from realitygap.train import run_train


def source(data: tuple[Path, Path]) -> list[dict]:
    return [{"dataset": str(data[0]), "split": str(data[1]), "fraction": 1.0}]


def sim_model(root: Path, seed: int, b: dict) -> Path:
    """The seed's sim model, trained as `factor_truth.py` trains it unless its run left it."""
    out = root / "models" / f"sim_s{seed}"
    if not (out / "train.json").is_file():
        data = source(prepare(root, "sim", b["render"]["domains"]["sim"], "sim", b))
        run_train(data, data, b["model"], b["train"], b["size"], seed, out, mix="bench", name="unet")
    return out / "model.pth"


def tuned_miou(root: Path, name: str, start: Path, seed: int, cfg: dict, b: dict, val: list) -> float:
    """mIoU on `val` of the model `start` fine-tuned on the render `name` (same seed, same batches)."""
    data = source((root / "raw" / name, root / "splits" / f"{name}.json"))
    out = root / "probe" / f"{name}_s{seed}_{cfg['iters']}_{cfg['lr']}"
    if not (out / "train.json").is_file():
        run_train(data, data, b["model"], cfg, b["size"], seed, out, mix="probe", name="unet", start=str(start))
    pred, truth = predict_samples(load_model(out / "model.pth", b["model"], b["size"], "cpu"), val)
    return segmentation_scores(pred, truth, RENDER_CLASSES.names)["mIoU"]


def probe_seed(root: Path, seed: int, factors: list[str], cfg: dict, b: dict) -> dict:
    """probe(f) for every factor at one seed, and the seconds the fine-tunings took."""
    started = time.time()
    real = prepare(root, "real", b["render"]["domains"]["real"], "real", b)
    val = load_samples(real[0], real[1], "val")
    sim, real_look = b["render"]["domains"]["sim"], b["render"]["domains"]["real"]
    start = sim_model(root, seed, b)
    control = tuned_miou(root, "sim", start, seed, cfg, b, val)
    effects = {}
    for f in factors:
        name = f"sim_{f}"
        prepare(root, name, {**sim, f: real_look.get(f, 0)}, "sim", b)
        effects[f] = round(tuned_miou(root, name, start, seed, cfg, b, val) - control, 2)
        print(seed, f, effects[f], flush=True)
    return {"control_miou": round(control, 2), "effects": effects, "seconds": round(time.time() - started, 1)}


def agreement(truth: dict, probe: dict) -> dict:
    factors = sorted(truth)
    rho = stats.spearmanr([truth[f] for f in factors], [probe[f] for f in factors]).statistic
    return {"spearman": round(float(rho), 3), "truth_top3": sorted(factors, key=lambda f: -truth[f])[:3],
            "probe_top3": sorted(factors, key=lambda f: -probe[f])[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", required=True, help="a factor_truth result: figures.closed_mean or .closed")
    parser.add_argument("--keep", help="the factor_truth.py --keep folder (renders, sim models)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--iters", type=int, default=60, help="fine-tuning iterations")
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--count", type=int, default=480)
    parser.add_argument("--train-iters", type=int, default=400, help="the sim model's iterations, as the truth's")
    args = parser.parse_args()
    figures = json.loads(Path(args.truth).read_text())["figures"]
    truth = {k: v for k, v in figures.get("closed_mean", figures.get("closed")).items() if "+" not in k}
    b = budget(argparse.Namespace(size=args.size, count=args.count, iters=args.train_iters))
    cfg = b["train"] | {"iters": args.iters, "checkpoint_interval": args.iters, "lr": args.lr}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        per_seed = {str(s): probe_seed(root, s, sorted(truth), cfg, b) for s in range(args.seeds)}
    mean = {f: round(float(np.mean([r["effects"][f] for r in per_seed.values()])), 2) for f in truth}
    result = {"probe_mean": mean, "agreement_of_means": agreement(truth, mean),
              "agreement_per_seed": {s: agreement(truth, r["effects"]) for s, r in per_seed.items()},
              "per_seed": per_seed, "truth": truth, "truth_file": args.truth}
    command = (f"python bench/finetune_probe.py --truth {args.truth} --seeds {args.seeds} --iters {args.iters} "
               f"--lr {args.lr}")
    print(save("finetune_probe", command, result, budget={"size": args.size, "count": args.count,
                                                          "sim_model_iters": args.train_iters}))
    print(result["agreement_of_means"], {s: a["spearman"] for s, a in result["agreement_per_seed"].items()})


if __name__ == "__main__":
    main()
