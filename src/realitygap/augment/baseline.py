"""The image-transformation baseline of the long-tail study (seed 002): 16 factors, 12 photometric
(brightness, contrast, colour, sharpness, auto-contrast, invert, equalize, solarize, solarize-add,
posterize, salt noise, Gaussian noise) and 4 geometric (shear x, shear y, rotate, flip), of which
`ops` are drawn per image at a strength scaled by `magnitude`, RandAugment-style. Geometric factors
are albumentations dual transforms, so masks move with the image (nearest-neighbour)."""

from __future__ import annotations

import albumentations as A
import numpy as np

from realitygap.augment.base import Policy


class SolarizeAdd(A.ImageOnlyTransform):
    """Add a value to the pixels below a threshold (AutoAugment's SolarizeAdd); albumentations has none."""

    def __init__(self, addition: int = 110, threshold: int = 128, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.addition = addition
        self.threshold = threshold

    def get_params(self) -> dict:
        return {"add": self.py_random.randint(0, self.addition)}

    def apply(self, img: np.ndarray, add: int = 0, **params) -> np.ndarray:
        out = img.astype(np.int16)
        out = np.where(img < self.threshold, out + add, out)
        return np.clip(out, 0, 255).astype(np.uint8)


def factors(m: float) -> dict[str, A.BasicTransform]:
    """The 16 named factors at magnitude `m` in [0, 1], each applied when drawn."""
    return {
        "brightness": A.RandomBrightnessContrast(brightness_limit=0.5 * m, contrast_limit=0.0, p=1.0),
        "contrast": A.RandomBrightnessContrast(brightness_limit=0.0, contrast_limit=0.5 * m, p=1.0),
        "color": A.ColorJitter(brightness=0, contrast=0, saturation=0.9 * m, hue=0, p=1.0),
        "sharpness": A.Sharpen(alpha=(0.1, 0.1 + 0.8 * m), lightness=(1.0, 1.0), p=1.0),
        "autocontrast": A.AutoContrast(p=1.0),
        "invert": A.InvertImg(p=1.0),
        "equalize": A.Equalize(p=1.0),
        "solarize": A.Solarize(threshold_range=(1 - 0.5 * m, 1.0), p=1.0),
        "solarize_add": SolarizeAdd(addition=int(110 * m), p=1.0),
        "posterize": A.Posterize(num_bits=(max(1, 8 - int(round(4 * m))), 8), p=1.0),
        "salt_noise": A.SaltAndPepper(amount=(0.0, 0.05 * m), salt_vs_pepper=(1.0, 1.0), p=1.0),
        "gauss_noise": A.GaussNoise(std_range=(0.0, 0.1 * m), p=1.0),
        "shear_x": A.Affine(shear={"x": (-30 * m, 30 * m), "y": (0, 0)}, border_mode=0, p=1.0),
        "shear_y": A.Affine(shear={"x": (0, 0), "y": (-30 * m, 30 * m)}, border_mode=0, p=1.0),
        "rotate": A.Affine(rotate=(-30 * m, 30 * m), border_mode=0, p=1.0),
        "flip": A.HorizontalFlip(p=1.0),
    }


class ImageTransformBaseline(Policy):
    name = "baseline"
    options = {"ops": 2, "magnitude": 0.5, "factors": None}

    def build(self, cfg: dict) -> A.BaseCompose:
        table = factors(float(cfg["magnitude"]))
        chosen = cfg["factors"] or list(table)
        unknown = sorted(set(chosen) - set(table))
        if unknown:
            raise ValueError(f"augment policy 'baseline': unknown factors {unknown} (known: {sorted(table)})")
        return A.Compose([A.SomeOf([table[n] for n in chosen], n=int(cfg["ops"]), replace=False, p=1.0)])
