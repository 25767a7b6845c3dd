"""Attribution maps drawn over their images, as the explain stages save them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def overlay(image: np.ndarray, attribution: np.ndarray, outline: np.ndarray | None = None) -> np.ndarray:
    """RGB image with a [0, 1] map blended in as a heat map, and a mask outline drawn in white."""
    heat = cv2.applyColorMap((attribution * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    out = (0.5 * image + 0.5 * heat).astype(np.uint8)
    if outline is not None and outline.any():
        contours, _ = cv2.findContours(outline.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        out = cv2.drawContours(np.ascontiguousarray(out), contours, -1, (255, 255, 255), 1)
    return out


def overlay_path(folder: Path, domain: str, sample_id: str, class_name: str) -> Path:
    """Where an explain output keeps the overlay of one image and target class: one folder per domain, since
    sample ids are unique within a domain only."""
    return Path(folder) / "overlays" / domain / f"{sample_id}_{class_name}.png"
