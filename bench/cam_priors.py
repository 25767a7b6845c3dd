"""Pseudo-label quality of the tag classifier's training variants (issue 28): vanilla, Puzzle-CAM, OC-CSE (fixed
ordinary classifier), P-OC (both) and P-NOC (adversarial ordinary classifier), each with and without C²AM-H's
background (`+c2am_h`), through the whole label path (CAM priors -> dense CRF -> random walk) on a run
folder's target domain, scored against its held-out masks, at several classifier seeds.

    python bench/cam_priors.py --run /path/to/run --profile default --seeds 0 1 2 3 4

`--run` is a folder where the workflow has rendered and split the data (data/raw, data/splits). Each run's
scores are kept in `--runs` (so variants and seeds can be added later); the summary over all of them (mean
final and CRF label mIoU per variant with Student-t 95 % intervals, and the difference from vanilla paired by
seed: the same first-stage classifier) goes to bench/results/cam_priors.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from common import save
from realitygap import params as rg_params
from realitygap.pseudolabel import stage

ERASING = {"iters": 200, "puzzle_tiles": 2, "puzzle_weight": 1.0, "cse_weight": 1.0, "ordinary": "fixed",
           "noc_weight": 1.0, "noc_threshold": 0.4}
SALIENCY = {"iters": 200, "batch_size": 8, "lr": 0.003, "weight_decay": 0.0001, "hint_threshold": 0.4,
            "background_threshold": 0.1, "hint_weight": 1.0}
CLASSIFIERS = {
    "vanilla": None,
    "puzzle": ERASING | {"cse_weight": 0.0},
    "oc_cse": ERASING | {"puzzle_weight": 0.0},
    "p_oc": ERASING,
    "p_noc": ERASING | {"ordinary": "adversarial"},
}
VARIANTS = {**{name: (e, None) for name, e in CLASSIFIERS.items()},
            **{f"{name}+c2am_h": (e, SALIENCY) for name, e in CLASSIFIERS.items()}}


def run_variant(run: Path, cfg: dict, erasing: dict | None, salient: dict | None, seed: int, out: Path) -> dict:
    """Train the classifier with `erasing` and label the target's training images (with C²AM-H's background when
    `salient`); the per-step scores."""
    pl = json.loads(json.dumps(cfg["pseudolabel"]))
    pl["classifier"]["erasing"], pl["saliency"] = erasing, salient
    domain, model = pl["domain"], cfg["train"]["models"][cfg["train"]["primary_model"]] | {
        "num_classes": len(cfg["classes"]["names"])}
    sources = [{"dataset": str(run / "data/raw" / d), "split": str(run / "data/splits" / f"{d}.json"), "fraction": 1.0}
               for d in pl["classifier"]["sources"]]
    dataset, split = str(run / "data/raw" / domain), str(run / "data/splits" / f"{domain}.json")
    size = cfg["render"]["size"]
    start = time.perf_counter()
    stage.run_classifier(dataset, split, sources, model, pl, size, seed, out / "classifier", "cpu")
    trained = time.perf_counter() - start
    summary = stage.run_label(dataset, split, str(out / "classifier"), model, pl, size, seed, out / "dataset",
                              out / "results", "cpu")
    return {"classifier_s": round(trained, 1), "label_s": round(time.perf_counter() - start - trained, 1),
            "steps": {k: {"mIoU": v["mIoU_vs_truth"], "IoU": v.get("IoU"), "coverage": v["coverage"]}
                      for k, v in summary["steps"].items()}}


def t_interval(values: list[float]) -> list[float] | None:
    """Student-t 95 % interval of the mean (None below two values)."""
    from scipy import stats

    if len(values) < 2:
        return None
    v = np.asarray(values, float)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return [round(float(v.mean() - half), 2), round(float(v.mean() + half), 2)]


def summary(results: dict, step: str = "final") -> dict:
    """Per variant: the mean `step` mIoU over seeds with its interval, and the paired difference from vanilla."""
    out = {}
    for name in VARIANTS:
        seeds = sorted(k.split("/")[1] for k in results if k.split("/")[0] == name)
        if not seeds:
            continue
        scores = [results[f"{name}/{s}"]["steps"][step]["mIoU"] for s in seeds]
        paired = [results[f"{name}/{s}"]["steps"][step]["mIoU"] - results[f"vanilla/{s}"]["steps"][step]["mIoU"]
                  for s in seeds if f"vanilla/{s}" in results]
        out[name] = {"seeds": len(scores), "mIoU": round(float(np.mean(scores)), 2), "ci95": t_interval(scores),
                     "minus_vanilla": round(float(np.mean(paired)), 2) if paired else None,
                     "minus_vanilla_ci95": t_interval(paired)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--profile", default="default")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--iters", type=int, default=ERASING["iters"], help="second-stage iterations")
    p.add_argument("--work", type=Path, default=Path("/tmp/cam_priors"))
    p.add_argument("--runs", type=Path, default=Path("/tmp/cam_priors/runs.json"), help="every run's scores")
    p.add_argument("--summarise-only", action="store_true", help="run nothing, summarise --runs")
    a = p.parse_args()
    cfg = rg_params.load(a.run / "params.yaml", profile=a.profile)
    results = json.loads(a.runs.read_text()) if a.runs.exists() else {}
    for name in [] if a.summarise_only else a.variants:
        erasing, salient = VARIANTS[name]
        erasing = erasing and erasing | {"iters": a.iters}
        for seed in a.seeds:
            key = f"{name}/seed{seed}"
            own = a.work / name / f"seed{seed}" / "classifier"
            first = a.work / "vanilla" / f"seed{seed}" / "classifier" / "work_dir"     # the shared first stage
            same = a.work / name.split("+")[0] / f"seed{seed}" / "classifier"          # the same classifier
            if salient and same.is_dir() and not own.exists():
                shutil.copytree(same, own)
            elif erasing and first.is_dir() and not own.exists():
                shutil.copytree(first, own / "work_dir")
            results[key] = run_variant(a.run, cfg, erasing, salient, seed, a.work / name / f"seed{seed}") | {
                "erasing": erasing, "saliency": salient}
            print(key, {k: v["mIoU"] for k, v in results[key]["steps"].items()}, flush=True)
            a.runs.parent.mkdir(parents=True, exist_ok=True)
            a.runs.write_text(json.dumps(results, indent=1))
    figures = {step: summary(results, step) for step in ("crf", "final")}
    command = f"bench/cam_priors.py --run {a.run} --profile {a.profile} --iters {a.iters} (seeds and variants: see runs)"
    print(save("cam_priors", command, figures, erasing=ERASING, saliency=SALIENCY, runs=results))


if __name__ == "__main__":
    main()
