"""Faithfulness, localisation and sanity scores of attribution maps, adapted to segmentation targets.

Adaptation (definitions in REFERENCES.md, after Chattopadhyay et al. 2018, David et al. 2022 and
Petsiuk et al. 2018): the score Y of a target (class c over region M) is the mean softmax probability
of c over the pixels of M, so it is positive and bounded as the definitions need. Maps are in [0, 1].
- O: the score on the image multiplied pixel-wise by the map (the region the map keeps; the rest
  goes black); O': the same with the complement (1 - map) kept.
- Average Drop % = 100 * mean(max(0, Y - O) / Y); lower is better.
- Increase in Confidence % = 100 * mean([O > Y]); higher is better.
- Average Retention % = Average Drop computed with O'; higher is better.
- Average Drop of Others %: the Average Drop of the other classes present (their own regions) when
  the map of c is kept; higher is better; undefined (None) when no other class is present.
- Deletion / insertion AUC: pixels in decreasing map order are set to black (deletion) or restored
  from a Gaussian-blurred copy (insertion) in `steps` equal steps; the score curve's area by the
  trapezoid rule over the removed fraction in [0, 1], times 100. Lower deletion, higher insertion.
- Energy-based pointing game (Score-CAM paper): the share of the map's mass inside the target's own
  ground-truth region; seam share: the share on the ground-truth seam, beside the seam's area share
  (what a uniform map would score).
- Sanity (Adebayo et al. 2018, cascading randomisation): re-initialise the model's blocks from the
  output back and report the mean Spearman rank correlation between the maps of the trained and the
  randomised model at each step; a faithful method's correlation falls towards 0.
Targets with an empty region (Y undefined) are left out and counted.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch
from scipy.stats import spearmanr
from torchvision.transforms.functional import gaussian_blur

from realitygap.explain.base import Target, target_confidence
from realitygap.models import forward_logits
from realitygap.progress import progress

SANITY_CASCADE = ("decode_head", "backbone.decoder", "backbone.encoder")


def average_drop_increase(y: np.ndarray, o: np.ndarray) -> tuple[float, float]:
    """(Average Drop %, Increase in Confidence %) from per-target scores Y and O."""
    drop = np.maximum(0.0, y - o) / y
    return float(100 * drop.mean()), float(100 * (o > y).mean())


@torch.no_grad()
def confidences(net: torch.nn.Module, images: torch.Tensor, targets: list[Target],
                batch_size: int = 16) -> torch.Tensor:
    """Target confidences (B, T) of float RGB images (B, H, W, 3) in [0, 255], rows = images."""
    out = []
    for start in range(0, len(images), batch_size):
        logits = forward_logits(net, images[start:start + batch_size])
        rows = torch.arange(start, start + len(logits), device=images.device) % len(targets[0].region)
        out.append(torch.stack([target_confidence(logits, t, rows) for t in targets], 1))
    return torch.cat(out)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _aggregate(y, o, o_rest, y_oth, o_oth, present, deletion, insertion, sel: np.ndarray) -> dict:
    """The faithfulness scores of the images `sel` from per-image values."""
    drop, increase = average_drop_increase(y[sel], o[sel])
    oth = present & sel[:, None]
    return {"average_drop": _round(drop), "increase_in_confidence": _round(increase),
            "average_retention": _round(average_drop_increase(y[sel], o_rest[sel])[0]),
            "average_drop_of_others": _round(average_drop_increase(y_oth[oth], o_oth[oth])[0]) if oth.any() else None,
            "deletion_auc": _round(deletion[sel].mean()), "insertion_auc": _round(insertion[sel].mean()),
            "targets": int(sel.sum())}


def curve_auc(net, x: torch.Tensor, saliency: torch.Tensor, target: Target, steps: int, insertion: bool) -> np.ndarray:
    """Deletion or insertion AUC (x100) of one target's maps (N, H, W), per image (N,)."""
    n, h, w, _ = x.shape
    order = saliency.flatten(1).argsort(dim=1, descending=True)
    if insertion:
        start = gaussian_blur(x.permute(0, 3, 1, 2), [11, 11], [5.0, 5.0]).permute(0, 2, 3, 1)
    else:
        start = torch.zeros_like(x)
    frames = []
    for k in range(steps + 1):
        chosen = torch.zeros(n, h * w, dtype=torch.bool, device=x.device)
        chosen.scatter_(1, order[:, :round(k / steps * h * w)], True)
        chosen = chosen.view(n, h, w, 1)
        frames.append(torch.where(chosen, x, start) if insertion else torch.where(chosen, start, x))
    scores = confidences(net, torch.cat(frames), [target]).view(steps + 1, n)
    return (100 * torch.trapezoid(scores, dx=1.0 / steps, dim=0)).cpu().numpy()


def faithfulness(net: torch.nn.Module, images: np.ndarray, maps: np.ndarray, targets: list[Target],
                 names: Sequence[str], steps: int = 16, groups: dict[str, np.ndarray] | None = None) -> dict:
    """Per target class (keyed by `names[class index]`): Average Drop, Increase in Confidence, Average Retention, Average Drop of
    Others and deletion/insertion AUC. `images` uint8 (N, H, W, 3), `maps` (N, T, H, W) in [0, 1].

    With `groups` ({name: bool (N,)}) the perturbed forwards run once and the scores are given per
    group, `{group: {class: scores}}`; without, over all images, `{class: scores}`."""
    device = next(net.parameters()).device
    x = torch.from_numpy(images).to(device).float()
    m = torch.from_numpy(maps).to(device).float()
    y_all = confidences(net, x, targets).cpu().numpy().clip(1e-8)
    every = {"all": np.ones(len(images), bool)}
    out: dict = {g: {} for g in (groups or every)}
    for t, target in enumerate(targets):
        keep = target.region.flatten(1).any(1).cpu().numpy()
        name = names[target.class_index]
        if not keep.any():
            for g, sel in (groups or every).items():
                out[g][name] = {"average_drop": None, "increase_in_confidence": None, "targets": 0,
                                "empty_regions": int(sel.sum())}
            continue
        kept, rest = x * m[:, t, ..., None], x * (1 - m[:, t, ..., None])
        o = confidences(net, kept, [target])[:, 0].cpu().numpy()
        o_rest = confidences(net, rest, [target])[:, 0].cpu().numpy()
        others = target.others or []
        y_oth = confidences(net, x, others).cpu().numpy().clip(1e-8) if others else np.zeros((len(x), 0))
        o_oth = confidences(net, kept, others).cpu().numpy() if others else np.zeros((len(x), 0))
        present = (torch.stack([oth.region.flatten(1).any(1) for oth in others], 1).cpu().numpy()
                   if others else np.zeros((len(x), 0), bool)) & keep[:, None]
        curves = [curve_auc(net, x, m[:, t], target, steps, ins) for ins in (False, True)]
        for g, sel in (groups or every).items():
            chosen = keep & sel
            if not chosen.any():
                out[g][name] = {"average_drop": None, "increase_in_confidence": None, "targets": 0,
                                "empty_regions": int(sel.sum())}
                continue
            out[g][name] = {**_aggregate(y_all[:, t], o, o_rest, y_oth, o_oth, present, *curves, chosen),
                            "empty_regions": int((~keep & sel).sum())}
    return out if groups else out["all"]


def mass_share(maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Share of each map's mass (N, H, W) that falls on `mask` (N, H, W): (N,)."""
    total = maps.sum(axis=(1, 2))
    on = (maps * mask).sum(axis=(1, 2))
    return np.divide(on, total, out=np.zeros_like(on, dtype=np.float64), where=total > 0)


def localisation(maps: np.ndarray, truth: np.ndarray, class_indices: list[int], names: Sequence[str]) -> dict:
    """Per target class (keyed by `names`): the energy-based pointing game (share of the map on the target's
    own true region, over images where that region exists), and the map's mean share on each class's true
    region (`share_on`) beside that region's area share (`area_of`, the share a uniform map would get), in %."""
    area_of = {name: round(float((truth == k).mean()) * 100, 3) for k, name in enumerate(names)}
    out = {}
    for t, c in enumerate(class_indices):
        own = truth == c
        has = own.any(axis=(1, 2))
        energy = mass_share(maps[:, t].astype(np.float64), own)[has]
        out[names[c]] = {
            "energy_pointing_game": round(float(energy.mean()) * 100, 3) if has.any() else None,
            "own_area": area_of[names[c]],
            "share_on": {name: round(float(mass_share(maps[:, t].astype(np.float64), truth == k).mean()) * 100, 3)
                         for k, name in enumerate(names)},
            "area_of": area_of}
    return out


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Mean Spearman correlation between paired maps (N, T, H, W); constant maps are skipped."""
    values = []
    for u, v in zip(a.reshape(-1, a.shape[-2] * a.shape[-1]), b.reshape(-1, b.shape[-2] * b.shape[-1])):
        if u.std() > 0 and v.std() > 0:
            values.append(spearmanr(u, v).statistic)
    return round(float(np.mean(values)), 4) if values else None


def randomise(net: torch.nn.Module, blocks: list[str], seed: int) -> torch.nn.Module:
    """A copy of `net` whose listed blocks are re-initialised (every module with `reset_parameters`)."""
    torch.manual_seed(seed)
    copy_ = copy.deepcopy(net)
    for block in blocks:
        for module in copy_.get_submodule(block).modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
    return copy_.eval()


def sanity_cascade(net: torch.nn.Module) -> tuple[str, ...]:
    """The blocks randomised in turn, from the output back: ours (`SANITY_CASCADE`) where the model has them,
    else the decode head and then the backbone's top-level blocks in reverse order (a user's model)."""
    names = {name for name, _ in net.named_modules()}
    if all(block in names for block in SANITY_CASCADE):
        return SANITY_CASCADE
    return ("decode_head", *[f"backbone.{name}" for name, _ in reversed(list(net.backbone.named_children()))])


def sanity_check(net: torch.nn.Module, explain, images: torch.Tensor, targets: list[Target], maps: np.ndarray,
                 cascade: tuple[str, ...] | None = None, seed: int = 0) -> dict:
    """Cascading model-parameter randomisation: rank correlation of the maps at each step (`cascade`, by
    default `sanity_cascade(net)`). `explain(model, images, targets)` recomputes the method's maps on another
    model."""
    cascade = cascade or sanity_cascade(net)
    steps = {}
    for k in progress(range(1, len(cascade) + 1), desc="sanity cascade"):
        randomised = randomise(net, list(cascade[:k]), seed)
        other = explain(randomised, images, targets)
        steps["+".join(cascade[:k])] = rank_correlation(maps, other)
    return {"spearman_by_step": steps, "spearman_full": steps["+".join(cascade)]}
