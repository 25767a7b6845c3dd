"""The diagnose stage's fine-tune evidence (`realitygap.diagnose.finetune`, what `diagnose/finetune` runs) against
the retraining truth of `bench/factor_truth.py`: per seed, the frozen `sim` model that the truth's run trained
(kept with `--keep`) is fine-tuned on fresh `sim` scenes with each factor as in `real` and scored on `real`'s
validation images (`--score-on val`, what the stage does in the workflow) or fresh `real`-look scenes (`render`); its gains are ranked against the truth's gap closed (Spearman over the
single factors, top three), per seed and on the means, with the stage's wall time.

Run: .venv/bin/python bench/finetune_evidence.py --truth bench/results/factor_truth_partial.json --keep /tmp/ft_default
     [--seeds 0 1 --count 96 --iters 60 --lr 0.001 --score-on val]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from common import save
from factor_truth import budget
from finetune_probe import agreement
from realitygap.classes import ClassSet
from realitygap.data import load_samples
from realitygap.diagnose.finetune import finetune_effects
from realitygap.render.raster import RENDER_CLASSES


def seed_gains(keep: Path, seed: int, factors: list[str], cfg: dict, b: dict, score_on: str) -> dict:
    """The stage's fine-tune evidence on seed `seed`'s kept sim model, and its seconds."""
    weights = keep / "models" / f"sim_s{seed}" / "model.pth"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: run bench/factor_truth.py --keep {keep} first")
    domains = b["render"]["domains"]
    looks = {"source": domains["sim"], "target": domains["real"]}
    render = {"size": b["size"], "scene": b["render"]["scene"], "classes": RENDER_CLASSES.to_json()}
    scoring = load_samples(keep / "raw" / "real", keep / "splits" / "real.json", "val") if score_on == "val" else None
    started = time.time()
    got = finetune_effects(str(weights), b["model"], b["train"], b["size"], {"type": "builtin"}, render, looks,
                           {"source": "sim", "target": "real"}, factors, ClassSet.from_json(RENDER_CLASSES.to_json()),
                           cfg, seed, "cpu", scoring)
    gains = {r["factors"][0]: r["gain_points"] for r in got["factors"]}
    print(seed, gains, flush=True)
    return {"gains": gains, "rows": got["factors"], "control_miou": got["control_miou"],
            "seconds": round(time.time() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", required=True, help="a factor_truth result: figures.closed_mean and closed_per_seed")
    parser.add_argument("--keep", required=True, help="the factor_truth.py --keep folder (its sim models)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--count", type=int, default=96, help="scenes per look (training and scoring)")
    parser.add_argument("--iters", type=int, default=60)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--bootstrap", type=int, default=500)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--score-on", choices=["val", "render"], default="val",
                        help="real's validation images (as the workflow's stage) or fresh real-look scenes")
    args = parser.parse_args()
    figures = json.loads(Path(args.truth).read_text())["figures"]
    truth = {k: v for k, v in figures["closed_mean"].items() if "+" not in k}
    b = budget(argparse.Namespace(size=args.size, count=480, iters=400))
    cfg = {"count": args.count, "iters": args.iters, "lr": args.lr, "bootstrap": args.bootstrap}
    per_seed = {str(s): seed_gains(Path(args.keep), s, sorted(truth), cfg, b, args.score_on) for s in args.seeds}
    mean = {f: round(float(np.mean([r["gains"][f] for r in per_seed.values()])), 2) for f in truth}
    seed_truth = lambda s: {f: figures["closed_per_seed"][f][int(s)] for f in truth}  # noqa: E731
    result = {"gain_mean": mean, "agreement_of_means": agreement(truth, mean),
              "agreement_per_seed": {s: agreement(seed_truth(s), r["gains"]) for s, r in per_seed.items()},
              "per_seed": per_seed, "truth": truth, "truth_file": args.truth, "evidence": cfg | {"score_on": args.score_on}}
    command = (f"python bench/finetune_evidence.py --truth {args.truth} --keep {args.keep} --seeds "
               f"{' '.join(map(str, args.seeds))} --count {args.count} --iters {args.iters} --lr {args.lr} "
               f"--score-on {args.score_on}")
    print(save(f"finetune_evidence_{args.score_on}_{args.count}", command, result, budget={"size": args.size, "sim_model_iters": 400}))
    print(result["agreement_of_means"], {s: a["spearman"] for s, a in result["agreement_per_seed"].items()})


if __name__ == "__main__":
    main()
