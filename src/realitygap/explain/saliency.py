"""Vanilla gradient saliency (Simonyan et al., 2014) for segmentation targets: the absolute gradient
of the target score with respect to the input, maximum over colour channels."""

from __future__ import annotations

import torch

from realitygap.explain.base import Explainer, Target, target_score


def input_gradients(explainer: Explainer, x: torch.Tensor, targets: list[Target],
                    index: torch.Tensor | None = None) -> torch.Tensor:
    """Gradients (B, T, 3, H, W) of each target's score with respect to the inputs `x` (B, 3, H, W)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = explainer.logits(x)
        grads = [torch.autograd.grad(target_score(logits, t, index).sum(), x, retain_graph=True)[0]
                 for t in targets]
    return torch.stack(grads, 1)


class Saliency(Explainer):
    name = "saliency"

    def attribute(self, x: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        return input_gradients(self, x, targets).abs().amax(2)
