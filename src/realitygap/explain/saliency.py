"""Vanilla gradient saliency (Simonyan et al., 2014) for segmentation targets: the absolute gradient
of the target score with respect to the input, maximum over colour channels."""

from __future__ import annotations

import torch

from realitygap.explain.base import Explainer, Target, target_score


class Saliency(Explainer):
    name = "saliency"

    def attribute(self, x: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = self.logits(x)
            maps = []
            for i, target in enumerate(targets):
                (grads,) = torch.autograd.grad(target_score(logits, target).sum(), x,
                                               retain_graph=i < len(targets) - 1)
                maps.append(grads.abs().amax(1))
        return torch.stack(maps, 1)
