"""Style transfer towards unlabeled target-domain images: Fourier Domain Adaptation (Yang and Soatto,
CVPR 2020: the low-frequency amplitude spectrum of a reference image replaces the source's) and
histogram matching, both albumentations' own. Photometric: masks are untouched. The reference
images are loaded once and handed to every call; albumentations draws one per image from the seed."""

from __future__ import annotations

import functools

import albumentations as A
import numpy as np

from realitygap.augment.base import Policy
from realitygap.io import read_image

KEY = "style_references"


class StyleTransfer(Policy):
    name = "style"
    options = {"methods": ["fda", "histogram"], "fda_beta": 0.05, "blend": [0.5, 1.0], "probability": 0.8}
    needs = frozenset({KEY})

    def build(self, cfg: dict) -> A.BaseCompose:
        if not self.context.references:
            raise ValueError("augment policy 'style' needs reference images: set augment.reference_domain")
        known = {"fda": lambda: A.FDA(beta_limit=(0.0, cfg["fda_beta"]), metadata_key=KEY, p=1.0),
                 "histogram": lambda: A.HistogramMatching(blend_ratio=tuple(cfg["blend"]), metadata_key=KEY, p=1.0)}
        unknown = sorted(set(cfg["methods"]) - set(known))
        if unknown or not cfg["methods"]:
            raise ValueError(f"augment policy 'style': methods must be some of {sorted(known)}, got {cfg['methods']}")
        return A.Compose([A.OneOf([known[m]() for m in cfg["methods"]], p=cfg["probability"])])

    @functools.cached_property
    def reference_images(self) -> list[np.ndarray]:
        return [read_image(p) for p in self.context.references]

    def extras(self, sample, image, mask) -> dict:
        return {KEY: self.reference_images}
