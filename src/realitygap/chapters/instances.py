"""The instance track in the report: metrics.json's `instance` entry (the matrix of DESIGN.md section 7
for the main loss, and the long-tail study: every loss on its mixes), tables, text and figures."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from realitygap import figures  # noqa: E402
from realitygap.chapters.base import Context, Section, table  # noqa: E402
from realitygap.figures import save_figure  # noqa: E402
from realitygap.io import read_json  # noqa: E402

MATRIX_KEYS = ("segm_AP", "bbox_AP", "AP_r", "AP_c", "AP_f", "segm_AP50", "segm_AP75")
GROUPS = ("AP_r", "AP_c", "AP_f")


NO_AUGMENTATION = "no augmentation"


def instance_metrics(scores_dir: str | os.PathLike, cfg: dict, augmented_dir: str | os.PathLike | None = None) -> dict:
    """`{"loss", "matrix": {MIX: {DOMAIN: scores}}, "longtail": {LOSS: {MIX: {DOMAIN: scores}}}}` from the
    score files `<scores_dir>/<mix>/<loss>.json`; `cfg` is params `instance`. With `augmented_dir` (the
    datasets of `instances augment`), `policies`: per augmentation policy (and no augmentation: the
    source mix) its scores per test domain and what the policy made (`augment`: its manifest's summary)."""
    def scores(mix: str, loss: str) -> dict:
        return {d: {k: s[k] for k in MATRIX_KEYS} for d, s in read_json(Path(scores_dir) / mix / f"{loss}.json").items()}

    out = {"loss": cfg["loss"],
           "matrix": {mix: scores(mix, cfg["loss"]) for mix in cfg["mixes"]},
           "longtail": {loss: {mix: scores(mix, loss) for mix in cfg["longtail"]["mixes"]}
                        for loss in cfg["longtail"]["losses"]}}
    if augmented_dir:
        source = cfg["augment"]["source_mix"]
        out["policies"] = {NO_AUGMENTATION: {"mix": source, "scores": scores(source, cfg["loss"])}} | {
            p: {"mix": f"inst_{p}", "scores": scores(f"inst_{p}", cfg["loss"]),
                "augment": read_json(Path(augmented_dir) / p / "manifest.json")["summary"]}
            for p in cfg["augment"]["policies"]}
    return out


INSTANCE_SET = "instances: "
"""Prefix of the image-quality sets of the instance policies' new images."""


def add_policy_image_quality(instance: dict, quality_sets: dict) -> None:
    """FID / KID of each instance policy's new images (quality set `instances: <policy>`) and of the source
    mix's images for no augmentation (set `no augmentation (<mix>)`), into `instance["policies"]`."""
    for name, entry in instance.get("policies", {}).items():
        measured = quality_sets.get(f"{NO_AUGMENTATION} ({entry['mix']})" if name == NO_AUGMENTATION
                                    else f"{INSTANCE_SET}{name}")
        if measured:
            entry |= {k: measured[k] for k in ("fid", "kid")}


def policy_rows(instance: dict, domain: str = "real") -> tuple[list[str], list[list]]:
    """Header and rows of the instance augmentation table: per policy the images it added, its counterfactuals'
    flip rate, mask AP, AP_r / AP_c / AP_f and box AP on `domain`, and FID / KID of its images."""
    header = ["policy", "images added", "flip rate", f"{domain} mask AP", *[f"{domain} {g}" for g in GROUPS],
              f"{domain} box AP", "FID (own features)", "KID (own features)"]
    rows = []
    for name, p in instance.get("policies", {}).items():
        s = p["scores"].get(domain, {})
        made = p.get("augment", {})
        rows.append([name, made.get("images", 0), made.get("flip_rate"), s.get("segm_AP"), *[s.get(g) for g in GROUPS],
                     s.get("bbox_AP"), p.get("fid"), None if p.get("kid") is None else f"{p['kid']:.4f}"])
    return header, rows


def policy_text(instance: dict, cfg: dict) -> str:
    """A plain-language reading of the instance augmentation study."""
    policies = instance.get("policies", {})
    made = policies.get("counterfactual", {}).get("augment", {})
    text = (f"Every category of the {cfg['source_mix']} training images raised to at least {cfg['min_count']} images "
            f"(Learn-Explain-Reinforce): `counterfactual` draws images without the category and adds the "
            f"counterfactual of their most frequent category's object toward it (a map generator trained against the "
            f"frozen {cfg['source_mix']} Mask R-CNN; the label follows the target); `baseline` adds images that show "
            f"the category with the 16 image transformations (labels kept). Every model trains with the same "
            f"schedule on the source images plus the new ones.")
    if made:
        text += (f" The counterfactual generator flipped {100 * made['flip_rate']:.0f} % of its "
                 f"{made['counterfactuals']} targets (the detector finds the target category on the donor's box "
                 f"after, not before); the target's probability rose from {made['p_target_before']:.2f} to "
                 f"{made['p_target_after']:.2f} on average, with a mean |M| of {made['mean_abs_change']:.1f} grey levels.")
    return text


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


def collect(ctx: Context, metrics: dict) -> None:
    """metrics.json `instance` (after the policies' chapter: the instance policies' FID / KID are read from
    `image_quality`)."""
    if not ctx.instances_dir:
        return
    metrics["instance"] = instance_metrics(ctx.instances_dir, ctx.params["instance"], ctx.instance_augmented)
    add_policy_image_quality(metrics["instance"], metrics.get("image_quality", {}).get("sets", {}))
    if ctx.instance_explanations:
        metrics["instance"]["explanations"] = explanation_summary(
            read_json(Path(ctx.instance_explanations) / "meta.json"))


EXPLANATION_TEXT = (
    "The largest object of each of the first real test images, matched by IoU to each model's detection of its "
    "category (the ground-truth box where a model missed it), explained in every model: D-RISE, Grad-CAM on the "
    "class score and on the mask head, saliency, and counterfactual maps (what would make the detector call the "
    "object by another category, or find it). Share on object = the attribution mass on the object's true mask.")


def sections(ctx: Context, metrics: dict) -> list[Section]:
    if "instance" not in metrics:
        return []
    instance = metrics["instance"]
    figures.gap_heatmap(instance["matrix"], "segm_AP", ctx.out / "instance_gap.png")
    longtail_bars(instance, ctx.out / "instance_longtail.png")
    out = [Section("The gap for instances: Mask R-CNN", instance_text(instance), table(*matrix_rows(instance)),
                   ("instance_gap.png",)),
           Section("The long tail: box-head losses", "AP by frequency group on real test images for each box-head "
                   "classification loss (cross-entropy, focal, seesaw, class-frequency re-weighting, LDAM) and "
                   "training mix.", table(*longtail_rows(instance)), ("instance_longtail.png",))]
    if instance.get("policies"):
        out.append(Section("Counterfactual images for the long tail", policy_text(instance, ctx.params["instance"]["augment"]),
                           table(*policy_rows(instance))))
    if ctx.instance_explanations:
        folder = Path(ctx.instance_explanations)
        shown = tuple(p for p in (folder / "attributions.png", folder / "counterfactuals.png") if p.is_file())
        out.append(Section("What does each Mask R-CNN look at?", EXPLANATION_TEXT,
                           table(*explanation_rows(instance.get("explanations", {}))), shown))
    return out
