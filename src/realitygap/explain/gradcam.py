"""Grad-CAM for segmentation targets (Seg-Grad-CAM): channel weights are the spatial means of the
gradients of the target score at the target layer; the map is ReLU of the weighted activations,
upsampled bilinearly to the input size. One forward serves all targets; each backward stops at the
target layer."""

from __future__ import annotations

import torch

from realitygap.explain.base import CAMExplainer


class GradCAM(CAMExplainer):
    name = "gradcam"

    def channel_weights(self, acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        return grads.mean(dim=(2, 3), keepdim=True)
