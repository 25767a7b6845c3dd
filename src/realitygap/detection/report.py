"""The instance track in the report: metrics.json's `instance` entry (the matrix of DESIGN.md section 7
for the main loss, and the long-tail study: every loss on its mixes), tables, text and figures."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from realitygap.io import read_json  # noqa: E402
from realitygap.summarize.figures import save_figure  # noqa: E402

MATRIX_KEYS = ("segm_AP", "bbox_AP", "AP_r", "AP_c", "AP_f", "segm_AP50", "segm_AP75")
GROUPS = ("AP_r", "AP_c", "AP_f")


def instance_metrics(scores_dir: str | os.PathLike, cfg: dict) -> dict:
    """`{"loss", "matrix": {MIX: {DOMAIN: scores}}, "longtail": {LOSS: {MIX: {DOMAIN: scores}}}}` from the
    score files `<scores_dir>/<mix>/<loss>.json`; `cfg` is params `instance`."""
    def scores(mix: str, loss: str) -> dict:
        return {d: {k: s[k] for k in MATRIX_KEYS} for d, s in read_json(Path(scores_dir) / mix / f"{loss}.json").items()}

    return {"loss": cfg["loss"],
            "matrix": {mix: scores(mix, cfg["loss"]) for mix in cfg["mixes"]},
            "longtail": {loss: {mix: scores(mix, loss) for mix in cfg["longtail"]["mixes"]}
                         for loss in cfg["longtail"]["losses"]}}


def explanation_summary(meta: dict) -> dict:
    """Per explained model: the share of its objects it detected, and per method the mean share of the
    attribution mass on the object's mask."""
    return {name: {"detected": float(np.mean(m["detected"])),
                   "share_on_object": {method: float(np.mean(v)) for method, v in m["share_on_object"].items()}}
            for name, m in meta["models"].items()}


def explanation_rows(summary: dict) -> tuple[list[str], list[list]]:
    """Header and rows: one per explained model, its detection rate and each method's share on the object."""
    methods = list(next(iter(summary.values()))["share_on_object"]) if summary else []
    header = ["model (train mix)", "objects detected", *[f"{m}: share on object" for m in methods]]
    return header, [[name, s["detected"], *s["share_on_object"].values()] for name, s in summary.items()]


def matrix_rows(instance: dict) -> tuple[list[str], list[list]]:
    """Header and rows of the instance gap matrix: mask and box AP per test domain, groups on real."""
    domains = sorted({d for row in instance["matrix"].values() for d in row})
    header = ["train mix", *[f"{d} mask AP" for d in domains], *[f"{d} box AP" for d in domains],
              *[f"real {g}" for g in GROUPS]]
    rows = [[mix, *[row[d]["segm_AP"] for d in domains], *[row[d]["bbox_AP"] for d in domains],
             *[row.get("real", {}).get(g) for g in GROUPS]] for mix, row in instance["matrix"].items()]
    return header, rows


def longtail_rows(instance: dict, domain: str = "real") -> tuple[list[str], list[list]]:
    """Header and rows of the long-tail table: AP_r / AP_c / AP_f and mask AP per loss and mix on `domain`."""
    header = ["loss", "train mix", *GROUPS, "mask AP", "box AP"]
    rows = [[loss, mix, *[s[domain][k] for k in (*GROUPS, "segm_AP", "bbox_AP")]]
            for loss, mixes in instance["longtail"].items() for mix, s in mixes.items() if domain in s]
    return header, rows


def instance_text(instance: dict) -> str:
    """A plain-language reading of the instance gap and the long-tail study."""
    matrix = instance["matrix"]
    text = f"Mask R-CNN with the {instance['loss']} box-head loss, COCO mask AP (pycocotools) on each test split."
    if "real" in matrix.get("sim", {}) and "real" in matrix.get("real", {}):
        sim, real = matrix["sim"]["real"]["segm_AP"], matrix["real"]["real"]["segm_AP"]
        text += (f" On real test images the sim-trained model reaches {sim:.1f} mask AP, the real-trained one "
                 f"{real:.1f}: an instance gap of {real - sim:.1f} points.")
    return text + (" AP_r / AP_c / AP_f average the per-category APs of the rare (1-10 images), common "
                   "(11-100) and frequent (>100) categories of the test domain, as LVIS groups them; '-' where "
                   "the test split has no category of the group.")


def longtail_bars(instance: dict, path: str | os.PathLike, domain: str = "real") -> None:
    """Grouped bars of AP_r / AP_c / AP_f on `domain` for each (loss, mix) of the long-tail study."""
    runs = [(loss, mix, s[domain]) for loss, mixes in instance["longtail"].items() for mix, s in mixes.items()
            if domain in s]
    fig, ax = plt.subplots(figsize=(2.0 + 0.9 * max(len(runs), 1), 3.2))
    width = 0.26
    for k, group in enumerate(GROUPS):
        values = [np.nan if s[group] is None else s[group] for _, _, s in runs]
        ax.bar(np.arange(len(runs)) + (k - 1) * width, values, width, label=group)
    ax.set_xticks(range(len(runs)), [f"{loss}\n{mix}" for loss, mix, _ in runs], fontsize=8)
    ax.set_ylabel(f"mask AP on {domain} (%)")
    ax.set_title("Long tail: AP by frequency group per box-head loss and training mix")
    ax.legend(fontsize=8)
    save_figure(fig, path)
