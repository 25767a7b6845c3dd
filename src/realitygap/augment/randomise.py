"""Domain randomisation (Tremblay et al., CVPR-W 2018) by re-rendering: each source image's scene,
read back from the renderer's metadata, is rendered again with every listed render factor drawn
uniformly from its range and, optionally, new towel and table colours drawn
from the scene sampler's own colour ranges. The geometry, and so the
mask, is unchanged. A domain the builtin renderer did not make (a user's simulator, ingested) is randomised by
the user's renderer plugin instead (the render search's `renderer`): it renders new images, masks included,
with every listed factor drawn per image, one for each augmented copy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import albumentations as A
import numpy as np

from realitygap.augment.base import Policy
from realitygap.data import Sample
from realitygap.io import InputError, read_json
from realitygap.render.domain import DomainFactors, draw_factors, render_image
from realitygap.render.raster import rasterize
from realitygap.render.scene import TABLE_COLOURS, TOWEL_COLOURS, Scene, random_color


def meta_path(sample: Sample) -> Path:
    return Path(sample.image).parent.parent / "meta" / f"{sample.id}.json"


def has_scene(sample: Sample) -> bool:
    """Whether the sample was rendered by our renderer (its scene can be rendered again); an ingested image's
    metadata holds the user's render parameters, no scene."""
    return meta_path(sample).is_file() and "scene" in read_json(meta_path(sample))


def scene_meta(sample: Sample) -> dict:
    """The renderer's metadata of a sample (scene and factors), found beside its image."""
    path = meta_path(sample)
    if not path.is_file():
        raise InputError(f"{path}: missing; policy 'randomise' re-renders scenes and works on rendered domains only")
    meta = read_json(path)
    if "scene" not in meta:
        raise InputError(f"{path}: no scene (an ingested image); policy 'randomise' re-renders rendered domains only")
    return meta


class DomainRandomisation(Policy):
    name = "randomise"
    options = {"factors": {}, "colours": True}

    def build(self, cfg: dict) -> A.BaseCompose:
        bad = sorted(k for k, v in cfg["factors"].items() if len(v) != 2 or v[0] > v[1])
        if bad:
            raise ValueError(f"augment policy 'randomise': factors {bad} need a [low, high] range")
        if self.context.renderer is None:       # the builtin renderer: its factor names are checked up front
            DomainFactors.from_dict({k: v[0] for k, v in cfg["factors"].items()})
        self.rendered: list[tuple[np.ndarray, np.ndarray]] = []
        self.batches, self.count = 0, 1
        return A.Compose([])

    def __call__(self, image: np.ndarray, mask: np.ndarray, seed: int,
                 sample: Sample | None = None) -> tuple[np.ndarray, np.ndarray]:
        if sample is None:
            raise ValueError("augment policy 'randomise' re-renders a sample's scene and needs the sample")
        if not has_scene(sample) and self.context.renderer is not None:
            return self.from_plugin()
        meta = scene_meta(sample)
        rng = np.random.default_rng(seed)
        scene = Scene.from_dict(meta["scene"])
        if self.cfg["colours"]:
            scene = replace(scene, table_color=random_color(rng, *TABLE_COLOURS),
                            towels=[replace(t, color=random_color(rng, *TOWEL_COLOURS)) for t in scene.towels])
        raster = rasterize(scene)
        if not np.array_equal(raster.mask, mask):
            raise InputError(f"{sample.id}: re-rendered scene does not reproduce its mask (metadata out of date?)")
        return render_image(scene, raster, draw_factors(meta["factors"], self.cfg["factors"], rng), rng), mask

    def from_plugin(self) -> tuple[np.ndarray, np.ndarray]:
        """The next image and mask the user's renderer made with the factors drawn per image; a batch as large as
        the source set is rendered whenever the last one is used up (batch k seeded by the run's seed and k)."""
        import tempfile

        from realitygap.data import load_samples
        from realitygap.io import read_image, read_mask
        from realitygap.renderers import render_with
        from realitygap.seeding import derive_seed

        if not self.rendered:
            spec = self.context.renderer
            params = dict(spec["render"], count=self.count, factors=spec["render"].get("base", {}),
                          randomise=self.cfg["factors"])
            with tempfile.TemporaryDirectory() as tmp:
                out = render_with(spec["renderer"], params, derive_seed(self.context.seed, "randomise", self.batches),
                                  Path(tmp) / "batch", "randomised")
                self.rendered = [(read_image(s.image), read_mask(s.mask)) for s in load_samples(out)][::-1]
            self.batches += 1
        return self.rendered.pop()

    def prepare(self, samples: list[Sample]) -> None:
        self.count = len(samples)
