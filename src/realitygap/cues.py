"""Cue regions of a split: the class regions of its masks and, for rendered data, the renderer's cue bit
masks (seam fringe, corners, defocus...), each with the render factors that act in it."""

from __future__ import annotations

import numpy as np

from realitygap.data import Sample
from realitygap.io import read_mask
from realitygap.render.domain import CUES, MASK_CUES


def cue_regions(samples: list[Sample], truth: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean regions (N, H, W) per cue name, for the samples whose cue masks exist."""
    regions = {name: truth == value for name, (value, _) in MASK_CUES.items()}
    if all(s.cues is not None and s.cues.exists() for s in samples):
        bits = np.stack([read_mask(s.cues) for s in samples])
        regions.update({name: (bits & bit) > 0 for name, (bit, _) in CUES.items()})
    return regions


def region_factors() -> dict[str, tuple[str, ...]]:
    """The render factors acting in each cue region."""
    return {**{k: v for k, (_, v) in MASK_CUES.items()}, **{k: v for k, (_, v) in CUES.items()}}
