"""Cue regions of explained images and the region-ablation intervention.

A cue region is a set of pixels where localised render factors act: the renderer's cue masks
(seam fringe, corners, defocused areas) and the table and towel from the ground truth. Ingested data
without cue masks has the table and towel regions only. Ablating a region inpaints its pixels from
their surroundings (Telea's method), which removes whatever texture or tint the region carried."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from realitygap.explain.base import Target
from realitygap.explain.scores import confidences


def ablate(images: np.ndarray, region: np.ndarray, radius: int = 3) -> np.ndarray:
    """Images (N, H, W, 3) uint8 with the pixels of `region` (N, H, W) inpainted from their surroundings."""
    out = images.copy()
    for i in range(len(images)):
        if region[i].any():
            out[i] = cv2.inpaint(np.ascontiguousarray(images[i]), region[i].astype(np.uint8), radius,
                                 cv2.INPAINT_TELEA)
    return out


@torch.no_grad()
def class_confidence(net: torch.nn.Module, images: np.ndarray, truth: np.ndarray, class_index: int) -> np.ndarray:
    """Mean softmax probability of the class `class_index` over its true pixels, per image (N,); NaN where absent."""
    device = next(net.parameters()).device
    region = torch.from_numpy(truth == class_index).to(device)
    target = Target(class_index, region)
    conf = confidences(net, torch.from_numpy(images).to(device).float(), [target])[:, 0].cpu().numpy()
    return np.where(region.flatten(1).any(1).cpu().numpy(), conf, np.nan)
