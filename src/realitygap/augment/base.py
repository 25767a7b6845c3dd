"""Augmentation policies: a policy turns its params into an albumentations transform. Whether it
moves masks with the image (geometric) or touches the image only (photometric) is decided here,
once, by albumentations' dual/image-only transform types."""

from __future__ import annotations

import albumentations as A
import numpy as np


class Policy:
    """Base of augmentation policies; subclasses build the transform from their params."""

    name = "base"

    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg
        self.transform = self.build(cfg)

    def build(self, cfg: dict) -> A.BaseCompose:
        """The albumentations pipeline of this policy."""
        raise NotImplementedError

    def __call__(self, image: np.ndarray, mask: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Augment one (image, mask) pair reproducibly from `seed`."""
        self.transform.set_random_seed(seed)
        out = self.transform(image=image, mask=mask)
        return out["image"], out["mask"]
