"""Interventional evidence: what each render factor does to the frozen source model, without retraining.

The source domain's scenes are rendered as the source looks, and again with one factor (or a pair) set to
the target domain's value (`forward`); the target's scenes as the target looks, and again with one factor at
the source's value (`reverse`). Every variant of a direction shows the same scenes from the same seed, so a
score difference is the factor's doing. The frozen source model's mIoU change (pooled over the images,
points) is the factor's effect on it:

    effect(f) = (-forward(f) + reverse(f)) / 2

the share of the look gap that f carries, averaged over the two directions. That finds what breaks the source
model, not the cues the source domain lacks (a stitch texture `sim` never renders cannot hurt a model that never
saw it). So the target-trained model is asked too: its reliance on f is what it gains when the source's scenes
take f's target value and loses when its own scenes take the source's, halved; factors are ranked by

    score(f) = effect(f) + reliance(f)

Intervals come from a paired bootstrap over images (the same resampled images for a variant and its base).
A pair's interaction is effect(f, g) - effect(f) - effect(g). Rendering goes through the renderer plugin machinery
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
    """Renders looks of one direction's scenes and scores the frozen models on them (cached per look and model)."""

    def __init__(self, nets: dict, renderer: dict, render: dict, classes: ClassSet, count: int, seed: int, root: Path):
        self.nets, self.renderer, self.render, self.classes = nets, renderer, render, classes
        self.count, self.seed, self.root = count, seed, root
        self.rendered: dict[tuple, Path] = {}
        self.cache: dict[tuple, np.ndarray] = {}

    def confusions(self, scenes: str, factors: dict, role: str = "source") -> np.ndarray:
        """Per-image confusions of model `role` on `count` scenes of domain `scenes` rendered with `factors`."""
        look = (scenes, tuple(sorted(factors.items())))
        if look not in self.rendered:
            out = self.root / f"look{len(self.rendered)}"
            render_look(self.renderer, self.render, {"factors": factors}, self.count, scenes, self.seed, out, scenes)
            self.rendered[look] = out
        if (look, role) not in self.cache:
            self.cache[look, role] = image_confusions(self.nets[role], self.rendered[look], self.classes)
        return self.cache[look, role]


def with_values_of(look: dict, other: dict, group: tuple[str, ...]) -> dict:
    """`look` with the factors of `group` as in `other` (a factor `other` does not set: the renderer's default)."""
    return {k: v for k, v in look.items() if k not in group} | {f: other[f] for f in group if f in other}


def differing(looks: dict[str, dict]) -> list[str]:
    """The factors whose values differ between the two looks (one unset: it differs if the other sets it)."""
    source, target = looks["source"], looks["target"]
    return sorted(f for f in set(source) | set(target) if source.get(f) != target.get(f))


def direction_deltas(t: Transplanter, scenes: str, base: dict, other: dict, groups: list[tuple[str, ...]],
                     draws: int, rng: np.random.Generator, role: str = "source") -> dict[tuple[str, ...], np.ndarray]:
    """Bootstrap draws of model `role`'s mIoU change when each group of factors of `base` takes `other`'s values."""
    reference = t.confusions(scenes, base, role)
    out = {}
    for group in progress(groups, desc=f"transplant into {scenes} ({role} model)"):
        variant = t.confusions(scenes, with_values_of(base, other, group), role)
        out[group] = bootstrap_deltas(variant, reference, draws, rng)
    return out


def both_ways(t: Transplanter, looks: dict, scenes: dict, groups: list, draws: int, rng, role: str = "source") -> tuple:
    """(forward, reverse) draws of model `role`: groups set to the target's values in the source's scenes and
    look, and to the source's values in the target's."""
    return (direction_deltas(t, scenes["source"], looks["source"], looks["target"], groups, draws, rng, role),
            direction_deltas(t, scenes["target"], looks["target"], looks["source"], groups, draws, rng, role))


def summarise(group: tuple[str, ...], forward: np.ndarray, reverse: np.ndarray, reliance: np.ndarray | None) -> dict:
    """A factor's row: the source model's forward and reverse changes and effect; with the target model, its
    reliance on the factor and the score (effect + reliance) that ranks the factors."""
    effect = (-forward + reverse) / 2
    row = {"factors": list(group), "forward_points": round(float(forward.mean()), 2), "forward_ci": interval(forward),
           "reverse_points": round(float(reverse.mean()), 2), "reverse_ci": interval(reverse),
           "effect_points": round(float(effect.mean()), 2), "effect_ci": interval(effect)}
    score = effect if reliance is None else effect + reliance
    if reliance is not None:
        row |= {"reliance_points": round(float(reliance.mean()), 2), "reliance_ci": interval(reliance)}
    return row | {"score_points": round(float(score.mean()), 2), "score_ci": interval(score)}


def transplant_effects(net, renderer: dict, render: dict, looks: dict[str, dict], scenes: dict[str, str],
                       factors: list[str], classes: ClassSet, cfg: dict, seed: int, target_net=None) -> dict:
    """Effects of each factor that differs between `looks["source"]` and `looks["target"]` (and of the pairs
    of the `cfg["pairs"]` strongest) on the frozen source model, and with `target_net` (the target-trained
    model) its reliance on each. `scenes`: {"source": domain, "target": domain}, whose scenes each direction
    renders; `cfg`: {count, pairs, bootstrap}."""
    rng, draws = np.random.default_rng(seed), int(cfg["bootstrap"])
    nets = {"source": net} | ({"target": target_net} if target_net is not None else {})
    with tempfile.TemporaryDirectory(prefix="transplant") as tmp:
        t = Transplanter(nets, renderer, render, classes, int(cfg["count"]), seed, Path(tmp))
        single = [(f,) for f in factors]
        fwd, rev = both_ways(t, looks, scenes, single, draws, rng)
        reliance = _reliance(t, looks, scenes, single, draws, rng) if target_net is not None else {}
        rows = sorted((summarise(g, fwd[g], rev[g], reliance.get(g)) for g in single), key=lambda r: -r["score_points"])
        pairs = [a + b for a, b in itertools.combinations([tuple(r["factors"]) for r in rows[: int(cfg["pairs"])]], 2)]
        more = both_ways(t, looks, scenes, pairs, draws, rng)
        fwd, rev = fwd | more[0], rev | more[1]
        scores = _look_scores(t, looks, scenes)
    return {"rule": "effect = (-forward + reverse) / 2: mIoU points of the frozen source model; reliance = the "
                    "target model's (forward - reverse) / 2; score = effect + reliance; paired bootstrap 95 % "
                    "intervals over images", "images": int(cfg["count"]), **scores,
            "factors": rows, "pairs": [_pair(p, fwd, rev) for p in pairs]}


def _reliance(t: Transplanter, looks: dict, scenes: dict, groups: list, draws: int, rng) -> dict:
    """The target model's reliance on each group: what it gains when the source's scenes take the group's target
    values, and loses when its own scenes take the source's, halved."""
    forward, reverse = both_ways(t, looks, scenes, groups, draws, rng, "target")
    return {g: (forward[g] - reverse[g]) / 2 for g in groups}


def _pair(pair: tuple, fwd: dict, rev: dict) -> dict:
    effects = {g: (-fwd[g] + rev[g]) / 2 for g in (pair, pair[:1], pair[1:])}
    interaction = effects[pair] - effects[pair[:1]] - effects[pair[1:]]
    return summarise(pair, fwd[pair], rev[pair], None) | {
        "interaction_points": round(float(interaction.mean()), 2), "interaction_ci": interval(interaction)}


def _look_scores(t: Transplanter, looks: dict, scenes: dict) -> dict:
    """The source model's mIoU on each direction's scenes in both looks, and the look gap between them."""
    other = {"source": "target", "target": "source"}
    base = {role: pooled_miou(t.confusions(scenes[role], looks[role])) for role in other}
    swapped = {role: pooled_miou(t.confusions(scenes[role], looks[other[role]])) for role in other}
    gap = ((base["source"] - swapped["source"]) + (swapped["target"] - base["target"])) / 2
    return {"look_gap_points": round(gap, 2),
            "scores": {"source_scenes": {"source_look": round(base["source"], 2), "target_look": round(swapped["source"], 2)},
                       "target_scenes": {"target_look": round(base["target"], 2), "source_look": round(swapped["target"], 2)}}}
