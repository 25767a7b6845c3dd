"""The XAI-guided policy: augmentation chosen by the diagnosis, and erasing of what the source
model looks at outside the target class.

1. `diagnosis.json` ranks the render factors suspected of causing the gap. Each of the top
   `top_causes` is randomised: by re-rendering the source scene with that factor drawn from its
   range in `ranges` when the source is rendered (targeted domain randomisation; a source the
   builtin renderer did not make is re-rendered by the user's renderer plugin, new scenes with the
   factors drawn per image), otherwise by the image operation that imitates it (`cause_ops`).
2. Attribution-guided erasing: the source (`sim`-trained) model's attribution map for the target
   class is computed on every training image; pixels with a normalised attribution above `threshold`
   that lie more than `margin` pixels outside the target class are the cues the model uses besides
   the target itself. They are inpainted from their surroundings (Telea) or re-coloured at random, so
   the retrained model cannot rely on them."""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch

from realitygap.augment.base import Policy
from realitygap.augment.camera import DepthOfField, Vignetting
from realitygap.augment.randomise import DomainRandomisation, has_scene
from realitygap.data import Sample
from realitygap.io import read_image, read_mask
from realitygap.progress import progress


def cause_ops(p: float) -> dict[str, list[A.BasicTransform]]:
    """The operation that randomises each render factor, applied with probability `p`."""
    plasma = A.PlasmaBrightnessContrast(brightness_range=(-0.3, 0.3), contrast_range=(-0.3, 0.3), p=p)
    focus = A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.Sharpen(alpha=(0.2, 0.5))], p=p)
    return {
        "fabric_texture": [A.MultiplicativeNoise(multiplier=(0.7, 1.3), per_channel=False, elementwise=True, p=p)],
        "fold_shading": [plasma],
        "light_gradient": [A.Illumination(mode="linear", intensity_range=(0.05, 0.2), p=p)],
        "table_texture": [plasma],
        "table_photo": [plasma],
        "depth_of_field": [DepthOfField(max_sigma=1.5, p=p)],
        "chromatic_aberration": [A.ChromaticAberration(primary_distortion_limit=(-0.02, 0.02),
                                                       secondary_distortion_limit=(-0.02, 0.02), mode="random", p=p)],
        "vignetting": [Vignetting(strength=(0.0, 0.5), p=p)],
        "noise_std": [A.GaussNoise(std_range=(0.0, 0.04), p=p)],
        "shot_noise": [A.ShotNoise(scale_range=(0.0, 0.01), p=p)],
        "jpeg_quality": [A.ImageCompression(quality_range=(40, 90), p=p)],
        "seam_tint": [],    # a local cue: handled by attribution-guided erasing
        # the image statistics the diagnosis transplants for domains no renderer draws (diagnose.image_stats)
        "noise": [A.GaussNoise(std_range=(0.0, 0.06), p=p)],
        "sharpness": [focus],
        "spectrum_slope": [focus],
        "colour": [A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.3, hue=0.03, p=p)],
        "blockiness": [A.ImageCompression(quality_range=(30, 90), p=p)],
    }


class RegionErasing(A.ImageOnlyTransform):
    """Inpaint (Telea) or re-colour the pixels of the per-sample `region` (H, W) bool."""

    def __init__(self, radius: int = 3, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.radius = radius

    @property
    def targets_as_params(self) -> list[str]:
        return ["region"]

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        colour = [self.py_random.uniform(0, 255) for _ in range(3)]
        return {"region": np.asarray(data["region"], bool), "inpaint": self.py_random.random() < 0.5,
                "colour": np.array(colour, np.float32), "alpha": self.py_random.uniform(0.3, 1.0)}

    def apply(self, img: np.ndarray, region: np.ndarray | None = None, inpaint: bool = True,
              colour: np.ndarray | None = None, alpha: float = 1.0, **params) -> np.ndarray:
        if region is None or not region.any():
            return img
        if inpaint:
            return cv2.inpaint(np.ascontiguousarray(img), region.astype(np.uint8), self.radius, cv2.INPAINT_TELEA)
        out = img.astype(np.float32)
        out[region] = (1 - alpha) * out[region] + alpha * colour
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def off_target_regions(attribution: np.ndarray, target: np.ndarray, threshold: float, margin: int) -> np.ndarray:
    """Pixels (N, H, W) whose attribution exceeds `threshold` farther than `margin` px from `target`."""
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    near = np.stack([cv2.dilate(t.astype(np.uint8), kernel) > 0 for t in target])
    return (attribution > threshold) & ~near


class XAIGuided(Policy):
    name = "xai_guided"
    options = {"top_causes": 4, "ranges": {}, "probability": 0.5, "erase_probability": 0.25, "method": "gradcam",
               "target_class": None, "threshold": 0.5, "margin": 0, "target_layer": "decode_head.conv_seg:input"}

    def causes(self) -> list[str]:
        """The diagnosis' top causes that can be randomised (a range or an operation), in rank order."""
        ranked = (self.context.diagnosis or {}).get("ranked_causes", [])
        known = set(cause_ops(1.0)) | set(self.cfg["ranges"])
        return [c for c in ranked if c in known][:int(self.cfg["top_causes"])]

    @property
    def needs(self) -> frozenset[str]:
        return frozenset({"region"}) | ({"depth"} if "depth_of_field" in self.image_causes else set())

    def build(self, cfg: dict) -> A.BaseCompose:
        if self.context.diagnosis is None or self.context.model is None:
            raise ValueError("augment policy 'xai_guided' needs the diagnosis and the source model "
                             "(--diagnosis, --source-model)")
        rendered = {c: cfg["ranges"][c] for c in self.causes() if c in cfg["ranges"]}
        self.rerender = DomainRandomisation({"factors": rendered, "colours": False}, self.context) if rendered else None
        self.image_causes = [c for c in self.causes() if c not in rendered]
        table = cause_ops(float(cfg["probability"]))
        steps = [RegionErasing(p=float(cfg["erase_probability"]))]
        for cause in self.image_causes:
            steps += [op for op in table[cause] if op not in steps]
        self.regions: dict[str, np.ndarray] = {}
        self.summary = {"causes": self.causes(), "rerendered": sorted(rendered), "image_operations": self.image_causes}
        return A.Compose(steps)

    def __call__(self, image: np.ndarray, mask: np.ndarray, seed: int,
                 sample: Sample | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Re-render the scene with the diagnosed factors drawn (rendered sources: the same scene by our
        renderer, a new one by the user's plugin, whose off-target region is then computed on it), then erase
        and apply the image operations of the other causes."""
        self.fresh_region = None
        if self.rerender is not None and sample is not None:
            if has_scene(sample):
                image, mask = self.rerender(image, mask, seed, sample)
            elif self.context.renderer is not None:
                image, mask = self.rerender.from_plugin()
                self.fresh_region = self.off_target(image[None], mask[None])[0]
        return super().__call__(image, mask, seed + 1, sample)

    def prepare(self, samples: list[Sample]) -> None:
        """Attribution maps of the source model for the target class on every sample, batched."""
        from realitygap.explain import METHODS
        from realitygap.models import load_model

        m = self.context.model
        net = load_model(m["weights"], m["model"], m["size"], m.get("device", "cpu"))
        self.explainer = METHODS[self.cfg["method"]](net, self.cfg["target_layer"])
        self.cls = self.context.classes.index(self.cfg["target_class"] or self.context.diagnosis["class"],
                                              "augment xai_guided target_class")
        if self.rerender is not None:
            self.rerender.prepare(samples)
        for start in progress(range(0, len(samples), 16), desc="xai_guided attribution", total=(len(samples) + 15) // 16):
            chunk = samples[start:start + 16]
            images = np.stack([read_image(s.image) for s in chunk])
            labels = np.stack([read_mask(s.mask, images.shape[1:3], len(self.context.classes)) for s in chunk])
            self.regions.update({s.id: r for s, r in zip(chunk, self.off_target(images, labels))})

    def off_target(self, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The pixels (N, H, W) the source model attends to outside the target class, of images (N, H, W, 3)."""
        from realitygap.explain import build_targets

        targets = build_targets(torch.from_numpy(labels).long(), [self.cls], len(self.context.classes))
        maps = self.explainer.explain(torch.from_numpy(images), targets)[:, 0].cpu().numpy()
        return off_target_regions(maps, labels == self.cls, float(self.cfg["threshold"]), int(self.cfg["margin"]))

    def extras(self, sample: Sample, image: np.ndarray, mask: np.ndarray) -> dict:
        region = self.fresh_region if getattr(self, "fresh_region", None) is not None else self.regions[sample.id]
        data = {"region": region}
        if "depth_of_field" in self.image_causes:
            from realitygap.io import read_depth

            data["depth"] = read_depth(sample.depth, image.shape[:2])
        return data
