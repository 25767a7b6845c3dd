"""Grad-CAM for segmentation targets (Seg-Grad-CAM): channel weights are the spatial means of the
gradients of the target score at the target layer; the map is ReLU of the weighted activations,
upsampled bilinearly to the input size. One forward serves all targets; each backward stops at the
target layer."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from realitygap.explain.base import Explainer, LayerCapture, Target, resolve_layer, target_score


class GradCAM(Explainer):
    name = "gradcam"

    def attribute(self, x: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        module, side = resolve_layer(self.net, self.target_layer)
        with torch.enable_grad(), LayerCapture(module, side) as capture:
            logits = self.logits(x.detach().requires_grad_(True))
            acts = capture.activation
            maps = []
            for i, target in enumerate(targets):
                score = target_score(logits, target).sum()
                (grads,) = torch.autograd.grad(score, acts, retain_graph=i < len(targets) - 1,
                                               allow_unused=False)
                weights = grads.mean(dim=(2, 3), keepdim=True)
                maps.append(F.relu((weights * acts).sum(1)).detach())
        cams = torch.stack(maps, 1)
        return F.interpolate(cams, size=x.shape[-2:], mode="bilinear", align_corners=False)
