"""Augmentation policies. A policy turns its params into an albumentations pipeline; whether an
operation moves the mask with the image (geometric) or touches the image only (photometric) is
decided once, by albumentations' dual / image-only transform types, never by a policy.

Operations that need more than the image (a depth map, a region to randomise) read it from the
per-sample `extras`, which albumentations passes to every transform as named data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import albumentations as A
import numpy as np

from realitygap.classes import ClassSet
from realitygap.data import Sample


@dataclass
class PolicyContext:
    """What a policy may use besides its params: unlabeled target-domain images for style
    transfer, the diagnosis of the source model, and that model itself for attribution-guided ops."""

    references: list[Path] = field(default_factory=list)
    diagnosis: dict | None = None
    model: dict | None = None          # {"weights", "model", "size", "device"} of the source model
    seed: int = 0                      # the run's seed, for policies that train something
    classes: ClassSet | None = None    # the data's class set (`run_augment` fills it from the sources)
    renderer: dict | None = None       # {renderer, render}: a user's renderer plugin and its render params


class Policy:
    """Base of augmentation policies; subclasses build the transform from their params.

    `options` lists the params a policy accepts with their defaults; an unknown one is an error.
    `needs` names the per-sample extras (`depth`, `region`) the policy's transforms read."""

    name = "base"
    options: dict = {}
    needs: frozenset[str] = frozenset()

    def __init__(self, cfg: dict, context: PolicyContext | None = None) -> None:
        unknown = sorted(set(cfg) - set(self.options))
        if unknown:
            raise ValueError(f"augment policy {self.name!r}: unknown params {unknown} (known: {sorted(self.options)})")
        self.cfg = {**self.options, **cfg}
        self.context = context or PolicyContext()
        self.summary: dict = {}            # what prepare() measured, written to the dataset's manifest
        self.transform = self.build(self.cfg)

    def build(self, cfg: dict) -> A.BaseCompose:
        """The albumentations pipeline of this policy."""
        raise NotImplementedError

    def prepare(self, samples: list[Sample]) -> None:
        """Work done once over the samples before augmenting (e.g. attribution maps); none by default."""

    def extras(self, sample: Sample, image: np.ndarray, mask: np.ndarray) -> dict:
        """Per-sample data the transforms read, besides image and mask."""
        return {}

    def __call__(self, image: np.ndarray, mask: np.ndarray, seed: int,
                 sample: Sample | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Augment one (image, mask) pair reproducibly from `seed`."""
        data = self.extras(sample, image, mask) if sample is not None else {}
        missing = sorted(self.needs - set(data))
        if missing:
            raise ValueError(f"augment policy {self.name!r} needs {missing} for each sample")
        self.transform.set_random_seed(seed)
        out = self.transform(image=image, mask=mask, **data)
        return out["image"], out["mask"]


class Composite(Policy):
    """Other policies applied one after another, each with its own params."""

    name = "compose"

    def __init__(self, parts: list[Policy]) -> None:
        self.parts = parts
        self.cfg = {"compose": [p.name for p in parts]}
        self.needs = frozenset().union(*(p.needs for p in parts))
        self.summary = {}

    def prepare(self, samples: list[Sample]) -> None:
        for part in self.parts:
            part.prepare(samples)
        self.summary = {p.name: p.summary for p in self.parts if p.summary}

    def __call__(self, image: np.ndarray, mask: np.ndarray, seed: int,
                 sample: Sample | None = None) -> tuple[np.ndarray, np.ndarray]:
        for i, part in enumerate(self.parts):
            image, mask = part(image, mask, seed + i, sample)
        return image, mask
