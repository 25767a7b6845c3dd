"""A photo-like towel domain from a generator independent of realitygap's renderer: another table (wood grain),
another weave (a woven check), another light (a warm spot light), stitched hems, and a camera (blur, noise, JPEG).
Labels: 0 table, 1 towel, 2 seam (the hem band), written as PNG folders `images/` and `masks/`; the self-training
tests ingest the images unlabeled and keep the masks to score with."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

TOWEL_COLOURS = [(214, 196, 170), (170, 190, 214), (200, 170, 190), (180, 205, 180), (225, 225, 215)]


def wood(rng: np.random.Generator, size: int) -> np.ndarray:
    """A wood-grain table: warped sine streaks in brown."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    warp = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), size / 8) * size / 3
    grain = 0.5 + 0.5 * np.sin((yy + warp) * 2 * np.pi / rng.uniform(5, 9) + rng.uniform(0, 6))
    base = np.array(rng.choice([(120, 80, 50), (150, 105, 65), (95, 65, 45)]), np.float32)
    return base * (0.75 + 0.35 * grain[..., None])


def towel(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A rotated towel's mask (0 out, 1 towel, 2 hem), its woven colour and its signed inset from the edge."""
    cx, cy = rng.uniform(0.35, 0.65, 2) * size
    hw, hh = rng.uniform(0.22, 0.4, 2) * size
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    inset = np.minimum(hw - np.abs(u), hh - np.abs(v))          # distance inside the edge
    hem = rng.uniform(0.05, 0.09) * size
    width = max(2.0, 0.05 * size)
    mask = np.where(inset > 0, 1, 0).astype(np.uint8)
    mask[(inset > hem) & (inset < hem + width)] = 2
    period = rng.uniform(3, 5)
    check = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    weave = 0.85 + 0.1 * check + 0.05 * np.sin(u * 2 * np.pi / 1.7) * np.sin(v * 2 * np.pi / 1.7)
    colour = np.array(TOWEL_COLOURS[rng.integers(len(TOWEL_COLOURS))], np.float32) * weave[..., None]
    stitches = (np.sin(np.where(np.abs(u) > np.abs(v), v, u) * 2 * np.pi / 2.5) > 0.3) & (mask == 2)
    colour[stitches] *= 0.7                                        # dashed stitches along the hem
    colour[(mask == 2) & ~stitches] *= 1.06                        # the hem's fold catches the light
    return mask, colour, inset


def photo(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One image (uint8 RGB) and its mask."""
    image = wood(rng, size)
    mask, colour, _ = towel(rng, size)
    image[mask > 0] = colour[mask > 0]
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    lx, ly = rng.uniform(0, size, 2)
    spot = 0.7 + 0.5 * np.exp(-((xx - lx) ** 2 + (yy - ly) ** 2) / (2 * (0.6 * size) ** 2))
    image = image * spot[..., None] * np.array([1.05, 1.0, 0.88], np.float32)      # warm light
    image = cv2.GaussianBlur(image, (0, 0), 0.7) + rng.normal(0, 4, image.shape)
    ok, jpeg = cv2.imencode(".jpg", np.clip(image, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 70])
    return cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED), mask


def write_photos(folder: Path, count: int, size: int, seed: int = 0) -> Path:
    """`count` photos of `size` px under `folder/images` (RGB PNG) and their masks under `folder/masks`."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image, mask = photo(rng, size)
        cv2.imwrite(str(folder / "images" / f"p{i:04d}.png"), image[..., ::-1])
        cv2.imwrite(str(folder / "masks" / f"p{i:04d}.png"), mask)
    return folder
