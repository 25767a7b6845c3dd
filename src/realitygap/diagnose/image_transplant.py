"""Transplants of image statistics (`realitygap.diagnose.image_stats`) onto the source domain's test images, and
the frozen source model's score change under each: the interventional evidence for domains without a renderer.

Each transform moves one statistic of an image to the target domain's value (the median over its images):
noise added (or smoothed away), blur or unsharp masking chosen on a grid to match the Laplacian variance, the
power spectrum's slope changed by a radial filter, colour moved by a per-channel mean/std transfer, JPEG
compression at the quality whose blockiness matches. The effect of a statistic is the mIoU the source model
loses on the transformed images (paired bootstrap over images, as `realitygap.diagnose.transplant`)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from realitygap.classes import ClassSet
from realitygap.diagnose.image_stats import GREY, STATISTICS, blockiness, domain_statistics, noise_sigma, sharpness, spectrum_slope
from realitygap.diagnose.transplant import bootstrap_deltas, interval
from realitygap.models import forward_logits
from realitygap.segmentation_metrics import confusion_matrix

BLURS = (0.4, 0.7, 1.0, 1.5, 2.0, 3.0)
SHARPENS = (0.3, 0.6, 1.0, 1.5, 2.5)
QUALITIES = (10, 20, 30, 40, 50, 60, 70, 80, 90)


def _closest(candidates: list[np.ndarray], measure, target: float) -> np.ndarray:
    return min(candidates, key=lambda c: abs(measure(c) - target))


def with_noise(image: np.ndarray, target: float, rng: np.random.Generator) -> np.ndarray:
    own = noise_sigma(image)
    if target > own:        # independent per channel; the estimate reads grey levels, whose noise is |GREY| as large
        noisy = image + rng.normal(0, np.sqrt(target ** 2 - own ** 2) / np.linalg.norm(GREY), image.shape)
        return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
    return _closest([image] + [cv2.GaussianBlur(image, (0, 0), s) for s in BLURS[:3]], noise_sigma, target)


def with_sharpness(image: np.ndarray, target: float) -> np.ndarray:
    blurred = [cv2.GaussianBlur(image, (0, 0), s) for s in BLURS]
    soft = cv2.GaussianBlur(image, (0, 0), 1.0).astype(np.float32)
    sharpened = [np.clip(image + a * (image - soft) + 0.5, 0, 255).astype(np.uint8) for a in SHARPENS]
    return _closest([image, *blurred, *sharpened], sharpness, target)


def with_spectrum_slope(image: np.ndarray, target: float) -> np.ndarray:
    """Amplitudes scaled by r^(delta / 2) at radial frequency r (power slope changes by delta; DC kept)."""
    delta = target - spectrum_slope(image)
    h, w = image.shape[:2]
    fy, fx = np.meshgrid(np.fft.fftfreq(h) * h, np.fft.fftfreq(w) * w, indexing="ij")
    gain = np.maximum(np.hypot(fy, fx), 1.0) ** (delta / 2)
    out = np.real(np.fft.ifft2(np.fft.fft2(image.astype(np.float32), axes=(0, 1)) * gain[..., None], axes=(0, 1)))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def with_colour(image: np.ndarray, source: dict, target: dict) -> np.ndarray:
    """Per-channel mean/std transfer from the source domain's colour statistics to the target's."""
    mean_s, std_s = np.array(source["mean"]), np.maximum(np.array(source["std"]), 1e-3)
    out = (image - mean_s) / std_s * np.array(target["std"]) + np.array(target["mean"])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def with_blockiness(image: np.ndarray, target: float) -> np.ndarray:
    def jpeg(q: int) -> np.ndarray:
        ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    return _closest([image] + [jpeg(q) for q in QUALITIES], blockiness, target)


def transplanted(name: str, images: np.ndarray, source: dict, target: dict, seed: int) -> np.ndarray:
    """`images` with statistic `name` moved to the target domain's value."""
    rng = np.random.default_rng(seed)
    moves = {"noise": lambda i: with_noise(i, target["noise"], rng),
             "sharpness": lambda i: with_sharpness(i, target["sharpness"]),
             "spectrum_slope": lambda i: with_spectrum_slope(i, target["spectrum_slope"]),
             "colour": lambda i: with_colour(i, source["colour"], target["colour"]),
             "blockiness": lambda i: with_blockiness(i, target["blockiness"])}
    return np.stack([moves[name](image) for image in images])


def confusions_of(net: torch.nn.Module, images: np.ndarray, truth: np.ndarray, classes: ClassSet) -> np.ndarray:
    with torch.no_grad():
        pred = forward_logits(net, torch.from_numpy(images)).argmax(1).cpu().numpy()
    return np.stack([confusion_matrix(p, t, len(classes), classes.ignore_index) for p, t in zip(pred, truth)])


def statistic_effects(net: torch.nn.Module, images: np.ndarray, truth: np.ndarray, target_images: np.ndarray,
                      classes: ClassSet, draws: int, seed: int) -> dict:
    """Each statistic of the target's images transplanted onto the source's (`images`, `truth`): the source
    model's mIoU change (forward, points) and the effect (points lost), with paired bootstrap intervals."""
    rng = np.random.default_rng(seed)
    source, target = domain_statistics(images), domain_statistics(target_images)
    base = confusions_of(net, images, truth, classes)
    rows = []
    for name in STATISTICS:
        deltas = bootstrap_deltas(confusions_of(net, transplanted(name, images, source, target, seed), truth, classes),
                                  base, draws, rng)
        rows.append({"factors": [name], "source": source[name], "target": target[name],
                     "forward_points": round(float(deltas.mean()), 2), "forward_ci": interval(deltas),
                     "effect_points": round(float(-deltas.mean()), 2), "effect_ci": interval(-deltas),
                     "score_points": round(float(-deltas.mean()), 2), "score_ci": interval(-deltas)})
    return {"rule": "effect = mIoU points the frozen source model loses when the statistic of its test images is "
                    "moved to the target domain's (paired bootstrap 95 % intervals over images)",
            "images": len(images), "factors": sorted(rows, key=lambda r: -r["score_points"])}
