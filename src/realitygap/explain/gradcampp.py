"""Grad-CAM++ (Chattopadhay et al., WACV 2018): channel weights are the sum over positions of
ReLU(gradient) times alpha, where alpha = g^2 / (2 g^2 + sum(A) g^3) is the closed form that assumes
an exponential score; as in the paper and pytorch-grad-cam."""

from __future__ import annotations

import torch

from realitygap.explain.base import CAMExplainer


class GradCAMPlusPlus(CAMExplainer):
    name = "gradcampp"

    def channel_weights(self, acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        g2, g3 = grads ** 2, grads ** 3
        total = acts.sum(dim=(2, 3), keepdim=True)
        alpha = g2 / (2 * g2 + total * g3 + 1e-7)
        alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
        return (torch.relu(grads) * alpha).sum(dim=(2, 3), keepdim=True)
