"""KernelSHAP over superpixels (Lundberg and Lee, NeurIPS 2017): SLIC superpixels are the players;
a coalition keeps its superpixels and fills the rest from the baseline; a linear model fitted with the
Shapley kernel weights to the target scores of the coalitions gives each superpixel's Shapley value.
With 2^M <= `samples` every coalition is enumerated (exact values); otherwise coalition sizes are drawn
from the Shapley kernel (weights then equal) and the empty and full coalitions are always included.
The map is the positive part (the superpixels that support the target); `shapley_values` keeps signs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from skimage.segmentation import slic

from realitygap.explain.base import Explainer, Target
from realitygap.explain.integrated_gradients import baseline_of
from realitygap.models import MEAN, STD
from realitygap.progress import progress

ANCHOR_WEIGHT = 1e6
"""Weight of the empty and full coalitions: pins the fit to f(empty) and f(full)."""


def superpixels(x: torch.Tensor, segments: int, compactness: float) -> np.ndarray:
    """SLIC labels (N, H, W) from 0 for normalised images (N, 3, H, W)."""
    mean, std = np.array(MEAN), np.array(STD)
    rgb = x.permute(0, 2, 3, 1).cpu().numpy() * std + mean
    return np.stack([slic(np.clip(im, 0, 255) / 255, n_segments=segments, compactness=compactness,
                          start_label=0, channel_axis=-1) for im in rgb])


def coalitions(players: int, samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(Z (S, M) of 0/1, kernel weights (S,)): all of them when they fit in `samples`, else drawn."""
    if 2 ** players <= samples:
        z = np.array(list(itertools.product([0, 1], repeat=players)), np.float64)
        k = z.sum(1)
        inner = (k > 0) & (k < players)
        w = np.full(len(z), ANCHOR_WEIGHT)
        w[inner] = (players - 1) / (np.array([math.comb(players, int(i)) for i in k[inner]]) * k[inner] * (players - k[inner]))
        return z, w
    sizes = np.arange(1, players)
    p = (players - 1) / (sizes * (players - sizes))
    drawn = rng.choice(sizes, size=samples - 2, p=p / p.sum())
    z = np.zeros((samples, players))
    z[1] = 1
    for row, k in enumerate(drawn, start=2):
        z[row, rng.choice(players, size=k, replace=False)] = 1
    w = np.ones(samples)
    w[:2] = ANCHOR_WEIGHT
    return z, w


def fit_shapley(z: np.ndarray, w: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weighted least squares of y (S, T) on [1, z]: the Shapley values (M, T)."""
    design = np.hstack([np.ones((len(z), 1)), z]) * np.sqrt(w)[:, None]
    beta, *_ = np.linalg.lstsq(design, y * np.sqrt(w)[:, None], rcond=None)
    return beta[1:]


class KernelSHAP(Explainer):
    name = "kernelshap"
    options = {"segments": 16, "samples": 128, "compactness": 10.0, "baseline": "blur"}

    def shapley_values(self, x: torch.Tensor, targets: list[Target],
                       labels: np.ndarray | None = None) -> torch.Tensor:
        """Signed per-pixel Shapley values (N, T, H, W) of the superpixels `labels` (SLIC if None)."""
        if labels is None:
            labels = superpixels(x, self.opts["segments"], self.opts["compactness"])
        base = baseline_of(self.net, x, self.opts["baseline"])
        rng = np.random.default_rng(self.seed)
        out = torch.zeros(len(x), len(targets), *x.shape[-2:], device=x.device)
        for i in progress(range(len(x)), desc="kernelshap images"):
            seg = torch.from_numpy(labels[i]).to(x.device).long()
            z, w = coalitions(int(labels[i].max()) + 1, self.opts["samples"], rng)
            keep = torch.from_numpy(z).to(x.device, x.dtype)[:, seg]
            inputs = x[i] * keep[:, None] + base[i] * (1 - keep[:, None])
            index = torch.full((len(z),), i, device=x.device)
            y = self.batched_scores(inputs, index, targets).double().cpu().numpy()
            phi = torch.from_numpy(fit_shapley(z, w, y)).to(x.device, out.dtype)
            out[i] = phi.T[:, seg]
        return out

    def attribute(self, x: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        return torch.relu(self.shapley_values(x, targets))
