"""Camera effects on clean renders: chromatic aberration, depth of field from the rendered depth,
motion blur, Poisson-Gaussian sensor noise, vignetting, white balance, JPEG. All photometric: the
mask is left as it is. Albumentations has all but vignetting and depth of field, written here."""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
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


class DepthOfField(A.ImageOnlyTransform):
    """Thin-lens-like defocus: the camera focuses at the depth of a random pixel, and each pixel
    is blended with a Gaussian blur (sigma up to `max_sigma`) by its distance from that depth over
    `depth_of_focus`. Reads the per-sample `depth` map (H, W) passed with the image."""

    def __init__(self, max_sigma: float = 1.5, depth_of_focus: float = 0.03, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.max_sigma = max_sigma
        self.depth_of_focus = depth_of_focus

    @property
    def targets_as_params(self) -> list[str]:
        return ["depth"]

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        depth = np.asarray(data["depth"], np.float32)
        focus = float(depth.flat[self.py_random.randrange(depth.size)])
        return {"defocus": np.clip(np.abs(depth - focus) / self.depth_of_focus, 0, 1),
                "sigma": self.py_random.uniform(0.3 * self.max_sigma, self.max_sigma)}

    def apply(self, img: np.ndarray, defocus: np.ndarray | None = None, sigma: float = 1.0, **params) -> np.ndarray:
        if defocus is None:
            return img
        blurred = cv2.GaussianBlur(img.astype(np.float32), (0, 0), sigma)
        out = img * (1 - defocus[..., None]) + blurred * defocus[..., None]
        return np.clip(out + 0.5, 0, 255).astype(img.dtype)


class CameraEffects(Policy):
    name = "camera"
    options = {"chromatic_aberration": 0.0, "depth_of_field": 0.0, "defocus_sigma": 0.0, "motion_blur": 0,
               "gauss_noise_std": 0.0, "shot_noise": 0.0, "vignetting": 0.0, "white_balance": False,
               "jpeg_quality": None, "probability": 0.8}

    @property
    def needs(self) -> frozenset[str]:
        return frozenset({"depth"}) if self.cfg["depth_of_field"] else frozenset()

    def extras(self, sample, image, mask) -> dict:
        if not self.cfg["depth_of_field"]:
            return {}
        from realitygap.io import read_depth

        if sample.depth is None:
            raise ValueError(f"augment policy 'camera': depth_of_field needs a depth map, {sample.id} has none")
        return {"depth": read_depth(sample.depth, image.shape[:2])}

    def build(self, cfg: dict) -> A.BaseCompose:
        return A.Compose(camera_steps(cfg, cfg["probability"]))


def camera_steps(cfg: dict, p: float) -> list[A.BasicTransform]:
    """The albumentations steps of the camera effects switched on in `cfg`, each applied with `p`."""
    steps = []
    if cfg.get("depth_of_field"):
        steps.append(DepthOfField(max_sigma=cfg["depth_of_field"], p=p))
    if cfg.get("defocus_sigma"):
        steps.append(A.GaussianBlur(blur_limit=0, sigma_limit=(0.1, cfg["defocus_sigma"]), p=p))
    if cfg.get("motion_blur"):
        steps.append(A.MotionBlur(blur_limit=(3, max(3, int(cfg["motion_blur"]) | 1)), p=p / 2))
    if cfg.get("chromatic_aberration"):
        k = cfg["chromatic_aberration"] / 100
        steps.append(A.ChromaticAberration(primary_distortion_limit=(-k, k), secondary_distortion_limit=(-k, k),
                                           mode="random", p=p))
    if cfg.get("vignetting"):
        steps.append(Vignetting(strength=(0.0, cfg["vignetting"]), p=p))
    if cfg.get("white_balance"):
        steps.append(A.PlanckianJitter(mode="blackbody", p=p))
    if cfg.get("shot_noise"):
        steps.append(A.ShotNoise(scale_range=(0.0, cfg["shot_noise"]), p=p))
    if cfg.get("gauss_noise_std"):
        steps.append(A.GaussNoise(std_range=(0.0, cfg["gauss_noise_std"]), p=p))
    if cfg.get("jpeg_quality"):
        lo, hi = cfg["jpeg_quality"]
        steps.append(A.ImageCompression(quality_range=(int(lo), int(hi)), p=p))
    return steps
