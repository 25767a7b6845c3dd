"""Integrated Gradients (Sundararajan et al., ICML 2017): (x - x0) times the path integral of the
input gradients from a baseline x0 to x, by Gauss-Legendre quadrature with `steps` points (captum's
default). The map is the absolute sum over colour channels. Baselines: `zeros` (the dataset mean
colour after normalisation), `black`, or `blur` (the image under a Gaussian blur of sigma `blur_sigma`)."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.transforms.functional import gaussian_blur

from realitygap.explain.base import Explainer, Target
from realitygap.explain.saliency import input_gradients
from realitygap.models import normalise

BASELINES = ("zeros", "black", "blur")


def baseline_of(net: torch.nn.Module, x: torch.Tensor, kind: str, blur_sigma: float = 5.0) -> torch.Tensor:
    """The reference input for `x` (normalised) of the named kind."""
    if kind == "zeros":
        return torch.zeros_like(x)
    if kind == "black":
        black = torch.zeros(len(x), *x.shape[2:], 3, dtype=torch.uint8, device=x.device)
        return normalise(net, black)
    if kind == "blur":
        k = 2 * int(3 * blur_sigma) + 1
        return gaussian_blur(x, [k, k], [blur_sigma, blur_sigma])
    raise ValueError(f"unknown baseline {kind!r} (known: {BASELINES})")


class IntegratedGradients(Explainer):
    name = "integrated_gradients"
    options = {"steps": 16, "baseline": "zeros", "blur_sigma": 5.0}

    def attribute(self, x: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        base = baseline_of(self.net, x, self.opts["baseline"], self.opts["blur_sigma"])
        nodes, weights = np.polynomial.legendre.leggauss(self.opts["steps"])
        alphas, weights = (nodes + 1) / 2, weights / 2
        n = len(x)
        per_chunk = max(1, self.batch_size // n)
        total = torch.zeros(n, len(targets), *x.shape[1:], device=x.device)
        for start in range(0, len(alphas), per_chunk):
            a = torch.tensor(alphas[start:start + per_chunk], dtype=x.dtype, device=x.device)
            w = torch.tensor(weights[start:start + per_chunk], dtype=x.dtype, device=x.device)
            path = (base[None] + a.view(-1, 1, 1, 1, 1) * (x - base)[None]).flatten(0, 1)
            index = torch.arange(n, device=x.device).repeat(len(a))
            grads = input_gradients(self, path, targets, index).view(len(a), n, len(targets), *x.shape[1:])
            total += (w.view(-1, 1, 1, 1, 1, 1) * grads).sum(0)
        return (total * (x - base)[:, None]).sum(2).abs()
