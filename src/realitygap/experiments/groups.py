"""Worst-group scores (after FREDOM, Truong et al., CVPR 2023): test images are grouped by their domain
and by scene attributes from the render metadata; a group's score is the mIoU of its pooled confusion
matrix, and the worst group is the lowest-scoring group with at least `min_images` images."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from realitygap.classes import ClassSet
from realitygap.data import Sample
from realitygap.io import read_json
from realitygap.segmentation_metrics import confusion_matrix, scores_from_confusion

ATTRIBUTES = ("domain", "state", "towels", "category", "lighting")


def sample_meta(sample: Sample) -> dict | None:
    """The render metadata beside a rendered sample's image (`meta/<id>.json`), None for ingested data."""
    path = Path(sample.image).parent.parent / "meta" / f"{sample.id}.json"
    return read_json(path) if path.is_file() else None


def image_groups(domain: str, meta: dict | None, attributes: list[str]) -> list[str]:
    """The groups (`attr=value`) an image belongs to; several per attribute when its towels differ. Besides
    `ATTRIBUTES`, an attribute may name a render parameter of the image's metadata (an ingested domain's
    table, or a drawn factor of ours): its value is the group."""
    groups = []
    for attr in attributes:
        factors = (meta or {}).get("factors", {})
        if attr == "domain":
            values = {domain}
        elif attr in factors and attr != "lighting":
            values = {f"{factors[attr]:g}"}
        elif meta is None or ("scene" not in meta and attr in ATTRIBUTES):
            values = set()          # an image without our scene metadata has no scene attributes
        elif attr == "state":
            values = {t["state"] for t in meta["scene"]["towels"]}
        elif attr == "category":
            values = {t["category"] for t in meta["scene"]["towels"]}
        elif attr == "towels":
            values = {str(len(meta["scene"]["towels"]))}
        elif attr == "lighting":
            values = {"uneven" if meta["factors"].get("light_gradient", 0) >= 0.25 else "even"}
        elif "scene" in meta:
            raise ValueError(f"unknown group attribute {attr!r} (known: {list(ATTRIBUTES)} or a render parameter)")
        else:
            values = set()          # a parameter this image's table does not have
        groups += [f"{attr}={v}" for v in sorted(values)]
    return groups


def group_scores(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray], groups: list[list[str]], classes: ClassSet,
                 min_images: int = 1) -> dict:
    """Per group: mIoU and image count; and the worst group among those with `min_images` images or more."""
    confusion: dict[str, np.ndarray] = defaultdict(lambda: np.zeros((len(classes),) * 2, np.int64))
    counts: dict[str, int] = defaultdict(int)
    for pred, truth, names in zip(preds, truths, groups):
        cm = confusion_matrix(pred, truth, len(classes), classes.ignore_index)
        for name in names:
            confusion[name] += cm
            counts[name] += 1
    per_group = {name: {"mIoU": scores_from_confusion(confusion[name], classes.names)["mIoU"], "images": counts[name]}
                 for name in sorted(confusion)}
    eligible = {n: g for n, g in per_group.items() if g["images"] >= min_images}
    worst = min(eligible, key=lambda n: eligible[n]["mIoU"]) if eligible else None
    return {"groups": per_group, "worst_group": worst, "worst_group_IoU": eligible[worst]["mIoU"] if worst else None}
