"""Interventional evidence: what each render factor does to the frozen source model, without retraining.

The source domain's scenes are rendered as the source looks, and again with one factor (or a pair) set to
the target domain's value (`forward`); the target's scenes as the target looks, and again with one factor at
the source's value (`reverse`). Every variant of a direction shows the same scenes from the same seed, so a
score difference is the factor's doing. The frozen source model's mIoU change (pooled over the images,
points) is the factor's effect on it:

    effect(f) = (-forward(f) + reverse(f)) / 2

the share of the look gap that f carries, averaged over the two directions. Its 95 % interval comes from a
paired bootstrap over images (the same resampled images for the variant and its base). A pair's
interaction is effect(f, g) - effect(f) - effect(g). Rendering goes through the renderer plugin machinery
(`realitygap.renderers`): our renderer, or the user's, which must draw the same scenes for the same seed.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np
import torch

from realitygap.classes import ClassSet
from realitygap.data import load_samples
from realitygap.inference import predict_samples
from realitygap.progress import progress
from realitygap.renderers import render_look
from realitygap.segmentation_metrics import confusion_matrix


def image_confusions(net: torch.nn.Module, dataset: Path, classes: ClassSet) -> np.ndarray:
    """Per image of `dataset`, the source model's confusion matrix (N, C, C)."""
    pred, truth = predict_samples(net, load_samples(dataset), desc=f"predict {dataset.name}")
    return np.stack([confusion_matrix(p, t, len(classes), classes.ignore_index) for p, t in zip(pred, truth)])


def pooled_miou(confusions: np.ndarray) -> float:
    """mIoU (points) of the summed confusion matrices, over the classes present in truth or prediction."""
    cm = confusions.sum(axis=0).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - np.diag(cm)
    present = union > 0
    return float(100 * np.mean(np.diag(cm)[present] / union[present]))


def bootstrap_deltas(variant: np.ndarray, base: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """mIoU(variant) - mIoU(base) over `draws` resamplings of the images, paired (the same images for both)."""
    n = len(base)
    picks = rng.integers(0, n, (draws, n))
    return np.array([pooled_miou(variant[p]) - pooled_miou(base[p]) for p in picks])


def interval(draws: np.ndarray) -> list[float]:
    return [round(float(np.percentile(draws, 2.5)), 2), round(float(np.percentile(draws, 97.5)), 2)]


class Transplanter:
    """Renders looks of one direction's scenes and scores the frozen model on them (cached per look)."""

    def __init__(self, net, renderer: dict, render: dict, classes: ClassSet, count: int, seed: int, root: Path):
        self.net, self.renderer, self.render, self.classes = net, renderer, render, classes
        self.count, self.seed, self.root = count, seed, root
        self.cache: dict[tuple, np.ndarray] = {}

    def confusions(self, scenes: str, factors: dict) -> np.ndarray:
        """Per-image confusions of the model on `count` scenes of domain `scenes` rendered with `factors`."""
        key = (scenes, tuple(sorted(factors.items())))
        if key not in self.cache:
            out = self.root / f"look{len(self.cache)}"
            render_look(self.renderer, self.render, {"factors": factors}, self.count, scenes, self.seed, out, scenes)
            self.cache[key] = image_confusions(self.net, out, self.classes)
        return self.cache[key]


def with_values_of(look: dict, other: dict, group: tuple[str, ...]) -> dict:
    """`look` with the factors of `group` as in `other` (a factor `other` does not set: the renderer's default)."""
    return {k: v for k, v in look.items() if k not in group} | {f: other[f] for f in group if f in other}


def differing(looks: dict[str, dict]) -> list[str]:
    """The factors whose values differ between the two looks (one unset: it differs if the other sets it)."""
    source, target = looks["source"], looks["target"]
    return sorted(f for f in set(source) | set(target) if source.get(f) != target.get(f))


def direction_deltas(t: Transplanter, scenes: str, base: dict, other: dict, groups: list[tuple[str, ...]],
                     draws: int, rng: np.random.Generator) -> dict[tuple[str, ...], np.ndarray]:
    """Bootstrap draws of the mIoU change when each group of factors of `base` takes `other`'s values."""
    reference = t.confusions(scenes, base)
    out = {}
    for group in progress(groups, desc=f"transplant into {scenes}"):
        variant = t.confusions(scenes, with_values_of(base, other, group))
        out[group] = bootstrap_deltas(variant, reference, draws, rng)
    return out


def summarise(group: tuple[str, ...], forward: np.ndarray, reverse: np.ndarray) -> dict:
    effect = (-forward + reverse) / 2
    return {"factors": list(group), "forward_points": round(float(forward.mean()), 2), "forward_ci": interval(forward),
            "reverse_points": round(float(reverse.mean()), 2), "reverse_ci": interval(reverse),
            "effect_points": round(float(effect.mean()), 2), "effect_ci": interval(effect)}


def transplant_effects(net, renderer: dict, render: dict, looks: dict[str, dict], scenes: dict[str, str],
                       factors: list[str], classes: ClassSet, cfg: dict, seed: int) -> dict:
    """Effects of each factor that differs between `looks["source"]` and `looks["target"]` (and of the pairs
    of the `cfg["pairs"]` strongest) on the frozen source model. `scenes`: {"source": domain, "target": domain},
    whose scenes each direction renders; `cfg`: {count, pairs, bootstrap}."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="transplant") as tmp:
        t = Transplanter(net, renderer, render, classes, int(cfg["count"]), seed, Path(tmp))
        single = [(f,) for f in factors]
        fwd = direction_deltas(t, scenes["source"], looks["source"], looks["target"], single, cfg["bootstrap"], rng)
        rev = direction_deltas(t, scenes["target"], looks["target"], looks["source"], single, cfg["bootstrap"], rng)
        rows = sorted((summarise(g, fwd[g], rev[g]) for g in single), key=lambda r: -r["effect_points"])
        top = [tuple(r["factors"]) for r in rows[: int(cfg["pairs"])]]
        pairs = [a + b for a, b in itertools.combinations(top, 2)]
        fwd |= direction_deltas(t, scenes["source"], looks["source"], looks["target"], pairs, cfg["bootstrap"], rng)
        rev |= direction_deltas(t, scenes["target"], looks["target"], looks["source"], pairs, cfg["bootstrap"], rng)
        base = {role: pooled_miou(t.confusions(scenes[role], looks[role])) for role in ("source", "target")}
        swapped = {role: pooled_miou(t.confusions(scenes[role], looks["target" if role == "source" else "source"]))
                   for role in ("source", "target")}
    effects = {g: (-fwd[g] + rev[g]) / 2 for g in fwd}
    interactions = [summarise(p, fwd[p], rev[p]) | {
        "interaction_points": round(float((effects[p] - effects[p[:1]] - effects[p[1:]]).mean()), 2),
        "interaction_ci": interval(effects[p] - effects[p[:1]] - effects[p[1:]])} for p in pairs]
    gap = ((base["source"] - swapped["source"]) + (swapped["target"] - base["target"])) / 2
    return {"rule": "effect = (-forward + reverse) / 2: mIoU points of the frozen source model, paired bootstrap "
                    "95 % intervals over images", "images": int(cfg["count"]), "look_gap_points": round(gap, 2),
            "scores": {"source_scenes": {"source_look": round(base["source"], 2), "target_look": round(swapped["source"], 2)},
                       "target_scenes": {"target_look": round(base["target"], 2), "source_look": round(swapped["target"], 2)}},
            "factors": rows, "pairs": interactions}
