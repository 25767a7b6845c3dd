"""The truth the diagnosis is checked against: which simulator fix closes the reality gap, by retraining.

For each render factor f that differs between `sim` and `real`, `sim` is rendered with f as in `real` (the
same scenes and seed, only f changed), a model is trained on it, and scored on `real`'s test images:

    closed(f) = (mIoU(sim_f model) - mIoU(sim model)) / (mIoU(real model) - mIoU(sim model))

the fraction of the sim -> real gap that fixing f in the simulator closes. The three factors that close the
most are also fixed in pairs. Every row is trained at each seed (paired: the same training seed for every
row of a seed). Beside it, the interventional diagnosis (`realitygap.diagnose.transplant`, no retraining) of
each seed's frozen sim model, and the Spearman correlation of its effect ranking with the truth's.
The default profile's budget: 96 px, 480 images per domain, UNet 16/4, 400 iterations, weighted CE.
Run: .venv/bin/python bench/factor_truth.py [--seeds 2 --size 96 --count 480 --iters 400 --keep DIR]
(with --keep, a later run reuses the renders and the models the folder holds: adding a seed trains only its rows)
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from scipy import stats

from common import save
from realitygap.classes import ClassSet
from realitygap.data import load_samples
from realitygap.diagnose.transplant import transplant_effects
from realitygap.inference import predict_samples
from realitygap.models import load_model
from realitygap.render.raster import RENDER_CLASSES
from realitygap.render.stage import run_render
from realitygap.segmentation_metrics import segmentation_scores
from realitygap.split import run_split
from realitygap.train import run_train

REPO = Path(__file__).resolve().parents[1]


def budget(args) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    model = dict(params["train"]["models"][params["train"]["primary_model"]], num_classes=3)
    train = {k: params["train"][k] for k in ("iters", "batch_size", "lr", "weight_decay", "loss")}
    train |= {"iters": args.iters, "checkpoint_interval": args.iters}
    return {"render": params["render"], "model": model, "train": train, "size": args.size, "count": args.count,
            "transplant": params["diagnose"].get("transplant", {"count": 96, "pairs": 3, "bootstrap": 500})}


def prepare(root: Path, name: str, factors: dict, domain: str, b: dict) -> tuple[Path, Path]:
    """Render `domain`'s scenes with `factors` into `name` (the domain name fixes scenes and noise)."""
    data = root / "raw" / name
    if not data.exists():
        run_render(domain, {"size": b["size"], "count": b["count"], "scene": b["render"]["scene"], "factors": factors},
                   0, data, jobs=2)
        run_split(data, {"train": 0.6, "val": 0.1, "test": 0.3}, 0, root / "splits" / f"{name}.json")
    return data, root / "splits" / f"{name}.json"


def train_and_score(root: Path, name: str, data: tuple[Path, Path], test: tuple[Path, Path], seed: int,
                    b: dict) -> tuple[float, Path]:
    """mIoU on `test` of a model trained on `data` with `seed` (the same seed for every row)."""
    source = [{"dataset": str(data[0]), "split": str(data[1]), "fraction": 1.0}]
    out = root / "models" / f"{name}_s{seed}"
    if not (out / "train.json").is_file():      # a kept model: training is deterministic, it would come out the same
        run_train(source, source, b["model"], b["train"], b["size"], seed, out, mix="bench", name="unet")
    net = load_model(out / "model.pth", b["model"], b["size"], "cpu")
    pred, truth = predict_samples(net, load_samples(test[0], test[1], "test"))
    return segmentation_scores(pred, truth, RENDER_CLASSES.names)["mIoU"], out / "model.pth"


def truth_table(root: Path, seed: int, b: dict) -> tuple[dict, Path]:
    """closed(f) for every differing factor and the pairs of the top three, at one seed; the sim model."""
    sim, real = b["render"]["domains"]["sim"], b["render"]["domains"]["real"]
    factors = sorted(f for f in set(sim) | set(real) if sim.get(f, 0) != real.get(f, 0))
    test = prepare(root, "real", real, "real", b)
    sim_miou, sim_model = train_and_score(root, "sim", prepare(root, "sim", sim, "sim", b), test, seed, b)
    real_miou, real_model = train_and_score(root, "real", test, test, seed, b)
    rows = {}
    for group in [(f,) for f in factors]:
        rows[group] = fixed(root, group, sim, real, test, seed, b)
        print(seed, group, rows[group], flush=True)
    top = sorted(rows, key=lambda g: -rows[g])[:3]
    for pair in itertools.combinations([g[0] for g in top], 2):
        rows[pair] = fixed(root, pair, sim, real, test, seed, b)
        print(seed, pair, rows[pair], flush=True)
    closed = {"+".join(g): round((m - sim_miou) / (real_miou - sim_miou), 3) for g, m in rows.items()}
    return {"sim_miou": sim_miou, "real_miou": real_miou, "miou": {"+".join(g): m for g, m in rows.items()},
            "closed": closed}, (sim_model, real_model)


def fixed(root: Path, group: tuple[str, ...], sim: dict, real: dict, test, seed: int, b: dict) -> float:
    """mIoU on real of a model trained on sim rendered with the factors of `group` as in real."""
    factors = {**sim, **{f: real.get(f, 0) for f in group}}
    name = "sim_" + "+".join(group)
    return train_and_score(root, name, prepare(root, name, factors, "sim", b), test, seed, b)[0]


def diagnosis(model: Path, real_model: Path, b: dict, seed: int) -> dict:
    """The interventional diagnosis of the frozen sim model and the real model's reliance (fresh scenes)."""
    net = load_model(model, b["model"], b["size"], "cpu")
    render = {"size": b["size"], "scene": b["render"]["scene"]}
    sim, real = b["render"]["domains"]["sim"], b["render"]["domains"]["real"]
    factors = sorted(f for f in set(sim) | set(real) if sim.get(f, 0) != real.get(f, 0))
    return transplant_effects(net, {"type": "builtin"}, render, {"source": sim, "target": real},
                              {"source": "sim", "target": "real"}, factors, ClassSet.from_json(RENDER_CLASSES.to_json()),
                              b["transplant"], seed + 1000,
                              target_net=load_model(real_model, b["model"], b["size"], "cpu"))


def compare(truth: dict, effects: dict) -> dict:
    """Spearman of the diagnosis' scores with the truth's gap closed (single factors), and top-3 overlap."""
    single = [f for f in truth if "+" not in f]
    eff = {r["factors"][0]: r["score_points"] for r in effects["factors"]}
    rho = stats.spearmanr([truth[f] for f in single], [eff[f] for f in single]).statistic
    top_truth = sorted(single, key=lambda f: -truth[f])[:3]
    top_diag = sorted(single, key=lambda f: -eff[f])[:3]
    return {"spearman": round(float(rho), 3), "truth_top3": top_truth, "diagnosis_top3": top_diag,
            "top3_contained": sorted(top_truth) == sorted(top_diag)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--count", type=int, default=480)
    parser.add_argument("--iters", type=int, default=400)
    parser.add_argument("--keep", help="folder to keep the renders and models in (default: a temporary one)")
    args = parser.parse_args()
    b = budget(args)
    started, per_seed = time.time(), {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        for seed in range(args.seeds):
            table, models = truth_table(root, seed, b)
            effects = diagnosis(*models, b, seed)
            per_seed[seed] = {"truth": table, "diagnosis": effects, "agreement": compare(table["closed"], effects)}
            print(seed, per_seed[seed]["agreement"], flush=True)
    closed = {k: [per_seed[s]["truth"]["closed"][k] for s in per_seed if k in per_seed[s]["truth"]["closed"]]
              for k in per_seed[0]["truth"]["closed"]}
    mean_closed = {k: round(float(np.mean(v)), 3) for k, v in closed.items()}
    effect = {r["factors"][0]: [] for r in per_seed[0]["diagnosis"]["factors"]}
    for s in per_seed:
        for r in per_seed[s]["diagnosis"]["factors"]:
            effect[r["factors"][0]].append(r["score_points"])
    summary = compare(mean_closed, {"factors": [{"factors": [f], "score_points": float(np.mean(v))}
                                                for f, v in effect.items()]})
    figures = {"closed_mean": mean_closed, "closed_per_seed": closed, "agreement_of_means": summary,
               "per_seed": {str(s): v for s, v in per_seed.items()}}
    print(save("factor_truth", "python bench/factor_truth.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items()
                                                                       if v is not None and k != "keep"),
               figures, peer=None, budget={k: b[k] for k in ("size", "count", "model", "train", "transplant")},
               elapsed_s=round(time.time() - started, 1)))
    print(summary)


if __name__ == "__main__":
    main()
