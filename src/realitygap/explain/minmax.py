"""MinMax-CAM for segmentation (David, Pedrini and Dias, VISAPP 2022): contrast the target class c
against the other classes N present in the image, so the map keeps the regions that support c and
not its neighbours.

- `minmax_cam` (MinMax-Grad-CAM): Grad-CAM of J_c = S_c - mean_{n in N} S_n.
- `dminmax_gradcam` (D-MinMax-Grad-CAM): alpha_k = sum_ij [ReLU(dS_c/dA) - ReLU(sum_{n in N} dS_n/dA)/|N|
  + min(0, sum_{n in C} dS_n/dA)/|C|] with C = N + {c}; map ReLU(sum_k alpha_k A^k).

Adaptation: S_n is the Seg-Grad-CAM score of class n over its own region, and n is present in an image
when that region is non-empty. The positional sum of alpha is a mean here (a constant factor, which
the min-max normalisation of maps removes). With no other class present, both reduce to Grad-CAM.
"""

from __future__ import annotations

import torch

from realitygap.explain.base import CAMExplainer, Target, target_score


def others_score(logits: torch.Tensor, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum over present other classes of their scores (N,), number present per image (N,))."""
    total = torch.zeros(len(logits), dtype=logits.dtype, device=logits.device)
    count = torch.zeros_like(total)
    for other in target.others:
        present = other.region.flatten(1).any(1).to(logits.dtype)
        total = total + present * target_score(logits, other)
        count = count + present
    return total, count


class MinMaxCAM(CAMExplainer):
    name = "minmax_cam"

    def objective(self, logits: torch.Tensor, target: Target) -> torch.Tensor:
        total, count = others_score(logits, target)
        return target_score(logits, target) - total / count.clamp(min=1)

    def channel_weights(self, acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        return grads.mean(dim=(2, 3), keepdim=True)


class DMinMaxGradCAM(CAMExplainer):
    name = "dminmax_gradcam"

    def cam(self, logits: torch.Tensor, acts: torch.Tensor, target: Target) -> torch.Tensor:
        total, count = others_score(logits, target)
        (g_c,) = torch.autograd.grad(target_score(logits, target).sum(), acts, retain_graph=True)
        if total.requires_grad:
            (g_n,) = torch.autograd.grad(total.sum(), acts, retain_graph=True)
        else:
            g_n = torch.zeros_like(g_c)
        n = count.view(-1, 1, 1, 1)
        alpha = (torch.relu(g_c) - torch.relu(g_n) / n.clamp(min=1) + torch.clamp(g_c + g_n, max=0) / (n + 1))
        return (alpha.mean(dim=(2, 3), keepdim=True) * acts).sum(1)
