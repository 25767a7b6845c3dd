"""Scene descriptions: where towels lie, how they are crumpled and where their seams run.

A scene is geometry only; how it looks is decided by a domain (see `domain.py`), so the same
sampler serves every domain and the gap between domains is exactly the difference of their factors.
"""

from __future__ import annotations

from dataclasses import dataclass, field, asdict

import numpy as np


@dataclass
class Towel:
    """One rectangular towel, crumpled by a smooth warp, with a hem seam and maybe an inner seam."""

    center: tuple[float, float]          # (x, y) in pixels
    half_size: tuple[float, float]       # (a, b) half width and height in pixels
    angle: float                         # radians
    color: tuple[float, float, float]    # RGB in [0, 1]
    hem_inset: float                     # distance of the seam from the towel edge, pixels
    seam_width: float                    # pixels
    inner_seam: float | None             # u coordinate of an inner seam, or None
    warp_amp: float                      # crumpling amplitude, pixels
    warp_freq: tuple[float, float]       # spatial frequencies of the warp, cycles per pixel
    warp_phase: tuple[float, float]
    fold_dir: float                      # direction of the fold shading, radians
    fold_freq: float                     # cycles per pixel
    fold_phase: float
    seam_sign: float                     # +1 seam drawn brighter in sim, -1 darker
    category: str = "bath_towel"         # item category, drawn from a long-tailed distribution
    state: str = "flat"                  # flat, crumpled, or folded (in half, no seam on the fold edge)


@dataclass
class Scene:
    """Towels on a table, seen from a top camera; later towels lie on top of earlier ones."""

    size: int
    table_color: tuple[float, float, float]
    towels: list[Towel] = field(default_factory=list)
    light_dir: float = 0.0
    focus_depth: float = 0.97

    def to_dict(self) -> dict:
        """Plain-JSON form of the scene, saved beside each image."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Scene":
        """The scene saved by `to_dict` (lists back to tuples)."""
        def tuples(d: dict) -> dict:
            return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}

        return cls(**{**tuples({k: v for k, v in data.items() if k != "towels"}),
                      "towels": [Towel(**tuples(t)) for t in data["towels"]]})


DEFAULT_CATEGORIES = {"bath_towel": 0.55, "hand_towel": 0.3, "tea_towel": 0.1, "washcloth": 0.04,
                      "beach_towel": 0.01}
"""Item categories and their probabilities: long-tailed, so rare/common/frequent groups exist."""

DEFAULT_STATES = {"flat": 0.3, "crumpled": 0.4, "folded": 0.3}
"""How towels lie: flat, crumpled by a smooth warp, or folded in half."""


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = sorted(weights)
    p = np.array([weights[n] for n in names], float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


TABLE_COLOURS = ((0.05, 0.35), (0.25, 0.6))    # (saturation, value) ranges of table colours
TOWEL_COLOURS = ((0.2, 0.8), (0.55, 0.95))     # and of towel colours, so towels stand out


def random_color(rng: np.random.Generator, saturation: tuple[float, float],
                  value: tuple[float, float]) -> tuple[float, float, float]:
    import colorsys

    h = rng.uniform(0.0, 1.0)
    s = rng.uniform(*saturation)
    v = rng.uniform(*value)
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h, s, v))


def sample_scene(rng: np.random.Generator, size: int, cfg: dict) -> Scene:
    """Sample one scene of `size` x `size` pixels from the scene parameters `cfg`."""
    n = int(rng.integers(cfg["towels_min"], cfg["towels_max"] + 1))
    scene = Scene(size=size,
                  table_color=random_color(rng, *TABLE_COLOURS),
                  light_dir=float(rng.uniform(0, 2 * np.pi)),
                  focus_depth=float(rng.uniform(0.95, 0.99)))
    lo, hi = cfg["towel_size"]
    for _ in range(n):
        state = _choice(rng, cfg.get("states", DEFAULT_STATES))
        a, b = (float(rng.uniform(lo, hi) * size / 2) for _ in range(2))
        if state == "folded":
            a /= 2
        margin = 0.15 * size
        width = float(rng.uniform(*cfg["seam_width"]) * size / 128)
        scene.towels.append(Towel(
            center=(float(rng.uniform(margin, size - margin)), float(rng.uniform(margin, size - margin))),
            half_size=(a, b),
            angle=float(rng.uniform(0, np.pi)),
            color=random_color(rng, *TOWEL_COLOURS),
            hem_inset=float(rng.uniform(*cfg["hem_inset"]) * size / 128),
            seam_width=max(width, 1.0),
            inner_seam=float(rng.uniform(-0.5, 0.5) * a) if rng.random() < cfg["inner_seam_prob"] else None,
            warp_amp=float(rng.uniform(0.5, 1.0) * cfg["crumple"] * size / 128) if state == "crumpled" else 0.0,
            warp_freq=(float(rng.uniform(0.5, 2.0) / size), float(rng.uniform(0.5, 2.0) / size)),
            warp_phase=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))),
            fold_dir=float(rng.uniform(0, np.pi)),
            fold_freq=float(rng.uniform(1.0, 3.0) / size),
            fold_phase=float(rng.uniform(0, 2 * np.pi)),
            seam_sign=float(rng.choice([-1.0, 1.0])),
            category=_choice(rng, cfg.get("categories", DEFAULT_CATEGORIES)),
            state=state,
        ))
    return scene
