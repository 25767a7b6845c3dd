"""SmoothGrad (Smilkov et al., 2017): the mean absolute input gradient over `samples` copies of the
image with Gaussian noise of standard deviation `noise` times the input's value range, maximum over
colour channels (captum's NoiseTunnel over absolute Saliency)."""

from __future__ import annotations

import torch

from realitygap.explain.base import Explainer, Target
from realitygap.explain.saliency import input_gradients
from realitygap.progress import progress


class SmoothGrad(Explainer):
    name = "smoothgrad"
    options = {"samples": 16, "noise": 0.15}

    def attribute(self, x: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        n, samples = len(x), self.opts["samples"]
        sigma = self.opts["noise"] * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3))).view(-1, 1, 1, 1)
        gen = self.generator(x.device)
        total = torch.zeros(n, len(targets), *x.shape[1:], device=x.device)
        index = torch.arange(n, device=x.device)
        for _ in progress(range(samples), desc="smoothgrad samples"):
            noisy = x + sigma * torch.randn(x.shape, generator=gen, device=x.device)
            total += input_gradients(self, noisy, targets, index).abs()
        return (total / samples).amax(2)
