"""Faithfulness and localisation scores of attribution maps, adapted to segmentation targets.

Adaptation (after Chattopadhyay et al. 2018 and David et al. for the definitions in REFERENCES.md):
the score Y of a target (class c over region M) is the mean softmax probability of c over the pixels
of M, so it is positive and bounded as the definitions need. O is the same score for the image
multiplied pixel-wise by the map, normalised to [0, 1] (the region that the map keeps).
- Average Drop % = 100 * mean(max(0, Y - O) / Y); lower is better.
- Increase in Confidence % = 100 * mean([O > Y]); higher is better.
Targets with an empty region (Y undefined) are left out and counted.
- Seam share: the share of the map's mass that falls on the ground-truth seam pixels, beside the
  seam's share of the image area (what a uniform map would score).
"""

from __future__ import annotations

import numpy as np
import torch

from realitygap import CLASSES
from realitygap.models import forward_logits


def region_confidence(net: torch.nn.Module, images: torch.Tensor, class_index: int,
                      region: torch.Tensor) -> torch.Tensor:
    """Mean softmax probability of `class_index` over `region` (N, H, W) per image: (N,)."""
    with torch.no_grad():
        prob = forward_logits(net, images).softmax(1)[:, class_index]
    area = region.sum(dim=(1, 2)).clamp(min=1)
    return (prob * region).sum(dim=(1, 2)) / area


def average_drop_increase(y: np.ndarray, o: np.ndarray) -> tuple[float, float]:
    """(Average Drop %, Increase in Confidence %) from per-target scores Y and O."""
    drop = np.maximum(0.0, y - o) / y
    return float(100 * drop.mean()), float(100 * (o > y).mean())


def faithfulness(net: torch.nn.Module, images: np.ndarray, maps: np.ndarray, class_indices: list[int],
                 regions: np.ndarray) -> dict:
    """Average Drop and Increase in Confidence per target class; `regions` is (N, T, H, W) bool."""
    device = next(net.parameters()).device
    x = torch.from_numpy(images).to(device)
    out = {}
    for t, c in enumerate(class_indices):
        region = torch.from_numpy(regions[:, t]).to(device)
        keep = region.flatten(1).any(1).cpu().numpy()
        if not keep.any():
            out[CLASSES[c]] = {"average_drop": None, "increase_in_confidence": None, "targets": 0}
            continue
        kept = torch.from_numpy(maps[:, t]).to(device)[..., None] * x.float()
        y = region_confidence(net, x, c, region).cpu().numpy()[keep]
        o = region_confidence(net, kept.round().clamp(0, 255).to(torch.uint8), c, region).cpu().numpy()[keep]
        drop, increase = average_drop_increase(y, o)
        out[CLASSES[c]] = {"average_drop": round(drop, 3), "increase_in_confidence": round(increase, 3),
                           "targets": int(keep.sum()), "empty_regions": int((~keep).sum())}
    return out


def mass_share(maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Share of each map's mass (N, H, W) that falls on `mask` (N, H, W): (N,)."""
    total = maps.sum(axis=(1, 2))
    on = (maps * mask).sum(axis=(1, 2))
    return np.divide(on, total, out=np.zeros_like(on, dtype=np.float64), where=total > 0)


def seam_share(maps: np.ndarray, truth: np.ndarray, class_indices: list[int]) -> dict:
    """Per target class: mean share of attribution on true seam pixels, and the seam's area share."""
    seam = truth == CLASSES.index("seam")
    area = float(seam.mean())
    return {CLASSES[c]: {"seam_share": round(float(mass_share(maps[:, t].astype(np.float64), seam).mean()) * 100, 3),
                         "seam_area": round(area * 100, 3)}
            for t, c in enumerate(class_indices)}
