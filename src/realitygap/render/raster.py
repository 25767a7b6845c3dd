"""Geometry of a scene on the pixel grid: which towel covers each pixel, its local coordinates,
the semantic mask and the depth map. Vectorised over pixels; loops only over the few towels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realitygap.classes import ClassSet
from realitygap.render.scene import Scene

BACKGROUND, TOWEL, SEAM = 0, 1, 2
RENDER_CLASSES = ClassSet(("background", "towel", "seam"), ((0, 0, 0), (128, 128, 128), (255, 64, 64)))
"""The class set this renderer's masks label (params' `classes` must name it when it renders a domain)."""


@dataclass
class Raster:
    """Per-pixel geometry of a scene."""

    owner: np.ndarray        # (H, W) int: index of the visible towel, -1 for the table
    u: np.ndarray            # (H, W) float: towel-local coordinate across the width
    v: np.ndarray            # (H, W) float: towel-local coordinate across the height
    edge_dist: np.ndarray    # (H, W) float: distance to the visible towel's edge, pixels
    seam_dist: np.ndarray    # (H, W) float: distance to the nearest seam centre line, pixels
    mask: np.ndarray         # (H, W) uint8: BACKGROUND / TOWEL / SEAM
    depth: np.ndarray        # (H, W) float32: distance from the camera, table at 1.0


def _towel_coords(scene: Scene, t, xx: np.ndarray, yy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Towel-local (u, v) coordinates of every pixel, with the crumpling warp applied."""
    dx, dy = xx - t.center[0], yy - t.center[1]
    c, s = np.cos(t.angle), np.sin(t.angle)
    u = c * dx + s * dy
    v = -s * dx + c * dy
    fx, fy = t.warp_freq
    px, py = t.warp_phase
    u = u + t.warp_amp * np.sin(2 * np.pi * fy * v + px)
    v = v + t.warp_amp * np.sin(2 * np.pi * fx * u + py)
    return u, v


def rasterize(scene: Scene) -> Raster:
    """Rasterise `scene`: later towels cover earlier ones."""
    size = scene.size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    owner = np.full((size, size), -1, dtype=np.int16)
    u = np.zeros((size, size), np.float32)
    v = np.zeros((size, size), np.float32)
    edge = np.zeros((size, size), np.float32)
    seam_dist = np.full((size, size), np.inf, np.float32)
    seam = np.zeros((size, size), bool)
    depth = np.ones((size, size), np.float32)
    for i, t in enumerate(scene.towels):
        tu, tv = _towel_coords(scene, t, xx, yy)
        a, b = t.half_size
        inside = (np.abs(tu) < a) & (np.abs(tv) < b)
        t_edge = np.minimum(a - np.abs(tu), b - np.abs(tv))
        # A folded towel shows its fold at u = +a: an edge without a hem seam.
        hem_edge = np.minimum(a + tu, b - np.abs(tv)) if t.state == "folded" else t_edge
        centre = t.hem_inset + t.seam_width / 2
        t_seam_dist = np.abs(hem_edge - centre)
        if t.inner_seam is not None:
            t_seam_dist = np.minimum(t_seam_dist, np.abs(tu - t.inner_seam))
        owner[inside] = i
        u[inside], v[inside], edge[inside] = tu[inside], tv[inside], t_edge[inside]
        seam_dist[inside] = t_seam_dist[inside]
        seam[inside] = t_seam_dist[inside] <= t.seam_width / 2
        fold = np.sin(2 * np.pi * t.fold_freq * (np.cos(t.fold_dir) * tu + np.sin(t.fold_dir) * tv)
                      + t.fold_phase)
        depth[inside] = (0.97 - 0.01 * i - 0.01 * fold)[inside]
    mask = np.where(owner >= 0, TOWEL, BACKGROUND).astype(np.uint8)
    mask[seam & (owner >= 0)] = SEAM
    return Raster(owner=owner, u=u, v=v, edge_dist=edge, seam_dist=seam_dist, mask=mask, depth=depth)
