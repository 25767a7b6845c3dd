"""RISE (Petsiuk et al., BMVC 2018): `masks` random binary grids of `cells` x `cells` cells kept with
probability `p`, upsampled bilinearly with a random sub-cell shift; the map is the mean of the masks
weighted by the target's confidence (mean softmax probability of the class over its region) on the
masked image, divided by p. Masked pixels take the value 0 of the normalised input (the mean colour).
Every image and target share the masked forwards."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from realitygap.explain.base import Explainer, Target, target_confidence
from realitygap.progress import progress


def rise_masks(count: int, cells: int, p: float, size: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    """(count, H, W) soft masks in [0, 1]: upsampled random grids, randomly shifted by up to a cell."""
    h, w = size
    ch, cw = math.ceil(h / cells), math.ceil(w / cells)
    grid = (torch.rand(count, 1, cells, cells, generator=gen) < p).float()
    up = F.interpolate(grid, size=((cells + 1) * ch, (cells + 1) * cw), mode="bilinear", align_corners=False)
    dy = torch.randint(0, ch, (count,), generator=gen)
    dx = torch.randint(0, cw, (count,), generator=gen)
    return torch.stack([up[i, 0, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(count)])


class RISE(Explainer):
    name = "rise"
    options = {"masks": 500, "cells": 8, "p": 0.5}

    def attribute(self, x: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        n = len(x)
        masks = rise_masks(self.opts["masks"], self.opts["cells"], self.opts["p"], tuple(x.shape[-2:]),
                           self.generator(torch.device("cpu"))).to(x.device)
        saliency = torch.zeros(n, len(targets), *x.shape[-2:], device=x.device)
        per_chunk = max(1, self.batch_size // n)
        for start in progress(range(0, len(masks), per_chunk), desc="rise masks"):
            m = masks[start:start + per_chunk]
            inputs = (x[None] * m[:, None, None]).flatten(0, 1)
            index = torch.arange(n, device=x.device).repeat(len(m))
            scores = self.batched_scores(inputs, index, targets, target_confidence).view(len(m), n, -1)
            saliency += torch.einsum("mnt,mhw->nthw", scores, m)
        return saliency / (len(masks) * self.opts["p"])
