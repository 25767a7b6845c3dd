"""Cue regions of a split: for data of the builtin renderer its class regions and cue bit masks (seam fringe,
corners, defocus...), each with the render factors that act in it; for any other data the region of each
class of its class set, named by the class."""

from __future__ import annotations

import numpy as np

from realitygap.classes import ClassSet
from realitygap.data import Sample
from realitygap.io import read_mask
from realitygap.render.domain import CUES, MASK_CUES


def cue_regions(samples: list[Sample], truth: np.ndarray, classes: ClassSet) -> dict[str, np.ndarray]:
    """Boolean regions (N, H, W) per cue name: the renderer's when every sample has its cue masks, else one
    per class of `classes`."""
    if not all(s.cues is not None and s.cues.exists() for s in samples):
        return {name: truth == value for value, name in enumerate(classes.names)}
    bits = np.stack([read_mask(s.cues) for s in samples])
    return ({name: truth == value for name, (value, _) in MASK_CUES.items()}
            | {name: (bits & bit) > 0 for name, (bit, _) in CUES.items()})


def region_factors() -> dict[str, tuple[str, ...]]:
    """The render factors acting in each cue region."""
    return {**{k: v for k, (_, v) in MASK_CUES.items()}, **{k: v for k, (_, v) in CUES.items()}}
