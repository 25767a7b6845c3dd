"""Camera effects on clean renders: chromatic aberration, defocus blur, sensor noise, vignetting,
JPEG compression. All photometric: the mask is left as it is."""

from __future__ import annotations

import albumentations as A
import numpy as np

from realitygap.augment.base import Policy


class Vignetting(A.ImageOnlyTransform):
    """Radial darkening `1 - strength * r^2` (r = 1 at the corners); albumentations has none."""

    def __init__(self, strength: tuple[float, float] = (0.2, 0.5), p: float = 0.5) -> None:
        super().__init__(p=p)
        self.strength = strength

    def get_params(self) -> dict:
        return {"s": self.py_random.uniform(*self.strength)}

    def apply(self, img: np.ndarray, s: float = 0.0, **params) -> np.ndarray:
        h, w = img.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx - (w - 1) / 2) ** 2 + (yy - (h - 1) / 2) ** 2) / (((w - 1) / 2) ** 2 + ((h - 1) / 2) ** 2)
        return np.clip(img * (1 - s * r2)[..., None], 0, 255).astype(img.dtype)


class CameraEffects(Policy):
    name = "camera"

    def build(self, cfg: dict) -> A.BaseCompose:
        p = cfg.get("probability", 0.8)
        steps = []
        if cfg.get("chromatic_aberration"):
            k = cfg["chromatic_aberration"] / 100
            steps.append(A.ChromaticAberration(primary_distortion_limit=(-k, k), secondary_distortion_limit=(-k, k),
                                               mode="random", p=p))
        if cfg.get("defocus_sigma"):
            steps.append(A.GaussianBlur(blur_limit=0, sigma_limit=(0.1, cfg["defocus_sigma"]), p=p))
        if cfg.get("vignetting"):
            steps.append(Vignetting(strength=(0.0, cfg["vignetting"]), p=p))
        if cfg.get("gauss_noise_std"):
            steps.append(A.GaussNoise(std_range=(0.0, cfg["gauss_noise_std"]), p=p))
        if cfg.get("jpeg_quality"):
            lo, hi = cfg["jpeg_quality"]
            steps.append(A.ImageCompression(quality_range=(int(lo), int(hi)), p=p))
        return A.Compose(steps)
