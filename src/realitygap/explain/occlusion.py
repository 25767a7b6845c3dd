"""Occlusion (Zeiler and Fergus, ECCV 2014): slide a `window` x `window` patch of the baseline over
the image with `stride`; a pixel's attribution is the mean drop of the target score over the patches
that cover it (captum's Occlusion). Every target and image of a patch position share one forward."""

from __future__ import annotations

import torch

from realitygap.explain.base import Explainer, Target
from realitygap.explain.integrated_gradients import baseline_of
from realitygap.progress import progress


def positions(size: int, window: int, stride: int) -> list[int]:
    """Top-left offsets of the windows along one axis."""
    if window > size:
        raise ValueError(f"occlusion window {window} is larger than the image ({size} px)")
    return list(range(0, size - window + 1, stride))


class Occlusion(Explainer):
    name = "occlusion"
    options = {"window": 8, "stride": 4, "baseline": "zeros"}

    def attribute(self, x: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        n, _, h, w = x.shape
        win, stride = self.opts["window"], self.opts["stride"]
        base = baseline_of(self.net, x, self.opts["baseline"])
        index = torch.arange(n, device=x.device)
        reference = self.batched_scores(x, index, targets)
        spots = [(y, z) for y in positions(h, win, stride) for z in positions(w, win, stride)]
        total = torch.zeros(n, len(targets), h, w, device=x.device)
        count = torch.zeros(h, w, device=x.device)
        per_chunk = max(1, self.batch_size // n)
        for start in progress(range(0, len(spots), per_chunk), desc="occlusion windows"):
            chunk = spots[start:start + per_chunk]
            inputs = x.repeat(len(chunk), 1, 1, 1)
            for p, (y, z) in enumerate(chunk):
                inputs[p * n:(p + 1) * n, :, y:y + win, z:z + win] = base[:, :, y:y + win, z:z + win]
            drops = reference - self.batched_scores(inputs, index.repeat(len(chunk)), targets).view(len(chunk), n, -1)
            for p, (y, z) in enumerate(chunk):
                total[:, :, y:y + win, z:z + win] += drops[p][..., None, None]
                count[y:y + win, z:z + win] += 1
        return total / count.clamp(min=1)
