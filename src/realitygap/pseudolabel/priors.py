"""Pseudo-label priors: class activation maps of the tag classifier (Grad-CAM, MinMax-CAM,
D-MinMax-Grad-CAM from the XAI suite), averaged over test-time flips and scales, turned into class
scores with a constant background score.

The classifier's logits are those of a one-pixel segmentation, so the suite's segmentation methods
apply unchanged: a class's target region is the whole image where the image is tagged with it, and
MinMax-CAM's "other classes" are the image's other tags.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from realitygap.explain import METHODS, Target
from realitygap.pseudolabel.classifier import CAM_LAYER

PRIOR_METHODS = ("gradcam", "minmax_cam", "dminmax_gradcam")


def tag_targets(tags: torch.Tensor, size: tuple[int, int]) -> list[Target]:
    """One target per tag class (classifier output index = tag column), its region the whole image where
    the image carries the tag; the other tagged classes are its contrast set."""
    regions = [tags[:, c].bool().view(-1, 1, 1).expand(-1, *size) for c in range(tags.shape[1])]
    return [Target(c, regions[c], [Target(n, regions[n]) for n in range(len(regions)) if n != c])
            for c in range(len(regions))]


def _scaled(images: torch.Tensor, scale: float, stride: int) -> torch.Tensor:
    h, w = images.shape[1:3]
    size = [max(stride, int(round(d * scale / stride)) * stride) for d in (h, w)]
    x = F.interpolate(images.permute(0, 3, 1, 2).float(), size=size, mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def class_activation_maps(net: nn.Module, images: torch.Tensor, tags: torch.Tensor, method: str,
                          scales: list[float], flips: bool, stride: int) -> torch.Tensor:
    """CAMs (N, C, H, W) in [0, 1] of uint8 RGB images (N, H, W, 3) for their tags (N, C): the mean over
    scales (and horizontal flips) of each variant's min-max normalised map; untagged classes are 0."""
    explainer = METHODS[method](net, target_layer=CAM_LAYER)
    h, w = images.shape[1:3]
    total = torch.zeros(len(images), tags.shape[1], h, w)
    variants = [(s, f) for s in scales for f in ((False, True) if flips else (False,))]
    for scale, flip in variants:
        x = _scaled(images, scale, stride)
        x = x.flip(2) if flip else x
        maps = explainer.explain(x, tag_targets(tags, tuple(x.shape[1:3]))).cpu()
        maps = maps.flip(3) if flip else maps
        total += F.interpolate(maps, size=(h, w), mode="bilinear", align_corners=False)
    return (total / len(variants)) * tags.view(*tags.shape, 1, 1).float()


def class_scores(cams: np.ndarray, background: float) -> np.ndarray:
    """(N, 1 + C, H, W) scores: a constant background score before the class CAMs."""
    bg = np.full((cams.shape[0], 1, *cams.shape[2:]), background, cams.dtype)
    return np.concatenate([bg, cams], 1)
