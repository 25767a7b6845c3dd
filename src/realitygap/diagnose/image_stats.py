"""Image-statistics factors: model-free differences between two domains' images that a transform can carry
across, for domains no renderer can draw again (ingested photos). After the sim-vs-real comparisons of Unity's
datasetinsights (power spectrum, Laplacian variance):

- `noise`: the noise standard deviation (grey levels), Immerkaer's estimator (CVIU 1996);
- `sharpness`: the variance of the Laplacian (blur lowers it), less the noise's share;
- `spectrum_slope`: the slope of the radially averaged log power spectrum against log frequency, above the
  noise's flat floor;
- `colour`: per-channel mean and standard deviation;
- `blockiness`: mean absolute step across 8-px block edges over the mean step elsewhere (JPEG; 1 = none).

Each is measured per domain (median over images) and then transplanted onto the source domain's test images
by a transform that moves that statistic to the target's value and leaves the others as they are as far as it
can; the frozen source model's score change is the statistic's effect, as for a render factor."""

from __future__ import annotations

import cv2
import numpy as np

STATISTICS = ("noise", "sharpness", "spectrum_slope", "colour", "blockiness")
GREY = np.array([0.299, 0.587, 0.114], np.float32)


def grey(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ GREY


def noise_sigma(image: np.ndarray) -> float:
    """Immerkaer's fast noise estimate: sqrt(pi/2) / (6 (W-2)(H-2)) * sum |I * N|, N the difference of two
    Laplacians, which cancels image structure up to second order."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = cv2.filter2D(grey(image), -1, kernel, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1]
    h, w = response.shape
    return float(np.sqrt(np.pi / 2) * np.abs(response).sum() / (6 * h * w))


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian less what the image's noise adds to it (white noise of std s adds 20 s^2 through
    the 4-neighbour kernel), so that noise is not read as detail."""
    return float(max(cv2.Laplacian(grey(image), cv2.CV_32F).var() - 20 * noise_sigma(image) ** 2, 0.0))


def spectrum_slope(image: np.ndarray) -> float:
    """Slope of log radially averaged power against log spatial frequency, the noise's floor removed (natural
    images: about -2)."""
    g = grey(image) - grey(image).mean()
    power = np.abs(np.fft.fftshift(np.fft.fft2(g))) ** 2
    h, w = g.shape
    yy, xx = np.mgrid[:h, :w]
    radius = np.hypot(yy - h // 2, xx - w // 2).astype(int)
    radial = np.bincount(radius.ravel(), power.ravel()) / np.maximum(np.bincount(radius.ravel()), 1)
    radial = radial - h * w * noise_sigma(image) ** 2          # white noise's flat floor: E|F|^2 = H W s^2
    freq = np.arange(1, min(h, w) // 2)
    freq = freq[radial[freq] > 0] if (radial[freq] > 0).sum() >= 3 else freq[:3]
    return float(np.polyfit(np.log(freq), np.log(np.maximum(radial[freq], 1e-8)), 1)[0])


def blockiness(image: np.ndarray) -> float:
    g = grey(image)
    steps = np.abs(np.diff(g, axis=1))
    edge = steps[:, 7::8].mean() if steps.shape[1] > 8 else 0.0
    inner = np.delete(steps, np.s_[7::8], axis=1).mean()
    return float(edge / max(inner, 1e-6))


def domain_statistics(images: np.ndarray) -> dict:
    """Median of each statistic over `images` (N, H, W, 3) uint8; colour as per-channel mean and std."""
    flat = images.reshape(len(images), -1, 3).astype(np.float32)
    return {"noise": float(np.median([noise_sigma(i) for i in images])),
            "sharpness": float(np.median([sharpness(i) for i in images])),
            "spectrum_slope": float(np.median([spectrum_slope(i) for i in images])),
            "colour": {"mean": flat.mean(1).mean(0).round(2).tolist(), "std": flat.std(1).mean(0).round(2).tolist()},
            "blockiness": float(np.median([blockiness(i) for i in images]))}
