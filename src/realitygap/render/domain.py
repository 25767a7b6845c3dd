"""How a scene looks in a domain. Each visual difference between `sim` and `real` is one named
factor of `DomainFactors`; a factor at 0 is switched off, so a domain is a point in factor space and
the reality gap is planted and known."""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

import cv2
import numpy as np

from realitygap.render.raster import Raster, SEAM
from realitygap.render.scene import Scene

SPURIOUS_TINT = np.array([0.9, 0.1, 0.9], np.float32)
"""Colour of the planted simulator artefact along seams (a magenta fringe)."""


@dataclass(frozen=True)
class DomainFactors:
    """Named render factors of a domain (all off by default: a clean simulator render)."""

    seam_contrast: float = 0.0         # relative brightness change of seam pixels (sim's seam cue)
    seam_tint: float = 0.0             # planted spurious cue: magenta fringe beside seams
    tint_decoy: float = 0.0            # probability that a towel's tint is drawn away from its seam (a decoy band)
    seam_stitch: float = 0.0           # stitch texture on the seam (real's seam cue)
    seam_ridge: float = 0.0            # shading of the seam's raised ridge
    fabric_texture: float = 0.0        # amplitude of the woven fabric texture
    weave_period: float = 3.0          # pixels per weave cycle
    fold_shading: float = 0.0          # shading of folds and wrinkles
    light_gradient: float = 0.0        # uneven illumination across the image
    table_texture: float = 0.0         # wood-grain texture of the table
    table_photo: float = 0.0           # photographic texture of the table (scikit-image's samples)
    depth_of_field: float = 0.0        # Gaussian blur sigma (pixels) at full defocus
    chromatic_aberration: float = 0.0  # red/blue shift at the image corners, pixels
    vignetting: float = 0.0            # darkening at the corners
    noise_std: float = 0.0             # Gaussian read noise, fraction of full scale
    shot_noise: float = 0.0            # Poisson-like noise, variance per unit intensity
    jpeg_quality: int = 0              # JPEG quality, 0 = no compression

    @classmethod
    def from_dict(cls, cfg: dict) -> "DomainFactors":
        """Build from a params mapping; unknown names raise ValueError naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown render factors {unknown}; known: {sorted(known)}")
        return cls(**cfg)


def draw_factors(base: dict, ranges: dict, rng: np.random.Generator) -> DomainFactors:
    """`base` with each factor of `ranges` drawn uniformly from its [low, high] (JPEG quality rounded)."""
    drawn = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in ranges.items()}
    if "jpeg_quality" in drawn:
        drawn["jpeg_quality"] = int(round(drawn["jpeg_quality"]))
    return DomainFactors.from_dict({**base, **drawn})


@functools.lru_cache(maxsize=1)
def _photo_textures() -> tuple[np.ndarray, ...]:
    """Photographs of gravel, brick and grass shipped inside scikit-image, as zero-mean floats."""
    from skimage import data

    photos = (data.gravel(), data.brick(), data.grass())
    return tuple(((p - p.mean()) / (p.std() + 1e-6)).astype(np.float32) for p in photos)


def _photo_crop(rng: np.random.Generator, size: int) -> np.ndarray:
    textures = _photo_textures()
    tex = textures[int(rng.integers(len(textures)))]
    crop = int(rng.integers(size, min(tex.shape) + 1))
    y, x = (int(rng.integers(0, n - crop + 1)) for n in tex.shape)
    return cv2.resize(tex[y:y + crop, x:x + crop], (size, size), interpolation=cv2.INTER_AREA)


def _table(scene: Scene, f: DomainFactors, rng: np.random.Generator, xx, yy) -> np.ndarray:
    base = np.ones((scene.size, scene.size, 3), np.float32) * np.array(scene.table_color, np.float32)
    if f.table_photo:
        base *= np.clip(1 + f.table_photo * 0.25 * _photo_crop(rng, scene.size), 0.2, 2.0)[..., None]
    if f.table_texture:
        grain_freq = rng.uniform(0.15, 0.35)
        warp = cv2.GaussianBlur(rng.standard_normal((scene.size, scene.size)).astype(np.float32), (0, 0), 4)
        grain = np.sin(grain_freq * (yy + 25 * warp) + rng.uniform(0, 2 * np.pi))
        base *= (1 + f.table_texture * 0.5 * grain)[..., None]
    return base


def _towels(scene: Scene, r: Raster, f: DomainFactors, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Towel albedo times shading, and a boolean map of towel pixels."""
    size = scene.size
    color = np.zeros((size, size, 3), np.float32)
    shade = np.ones((size, size), np.float32)
    on = r.owner >= 0
    for i, t in enumerate(scene.towels):
        px = r.owner == i
        color[px] = t.color
        if f.fold_shading:
            d = np.cos(t.fold_dir) * r.u + np.sin(t.fold_dir) * r.v
            fold = np.sin(2 * np.pi * t.fold_freq * d + t.fold_phase)
            wrinkle = np.sin(2 * np.pi * 3.1 * t.fold_freq * (r.u - 0.7 * r.v) + 2 * t.fold_phase)
            shade[px] *= (1 + f.fold_shading * (0.6 * fold + 0.25 * wrinkle))[px]
    if f.fabric_texture:
        w = 2 * np.pi / max(f.weave_period, 1.0)
        weave = np.sin(w * r.u) * np.sin(w * r.v)
        fuzz = rng.standard_normal(r.u.shape).astype(np.float32)
        shade *= np.where(on, 1 + f.fabric_texture * (0.7 * weave + 0.5 * fuzz), 1.0)
    return color * shade[..., None], on


def _seams(img: np.ndarray, scene: Scene, r: Raster, f: DomainFactors, rng: np.random.Generator) -> np.ndarray:
    seam = r.mask == SEAM
    if f.seam_contrast:
        sign = np.zeros(r.owner.shape, np.float32)
        for i, t in enumerate(scene.towels):
            sign[r.owner == i] = t.seam_sign
        img = np.where(seam[..., None], img * (1 + f.seam_contrast * sign)[..., None], img)
    if f.seam_stitch:
        along = r.u + r.v
        stitch = (np.sin(2 * np.pi * along / 2.5) > 0.3).astype(np.float32)
        img = np.where(seam[..., None], img * (1 - f.seam_stitch * stitch)[..., None], img)
    if f.seam_ridge:
        width = seam_widths(scene, r)
        near = (r.owner >= 0) & (r.seam_dist <= width)
        profile = np.cos(np.pi * np.minimum(r.seam_dist, width) / np.maximum(2 * width, 1e-6))
        img = np.where(near[..., None], img * (1 + f.seam_ridge * 0.5 * profile)[..., None], img)
    if f.seam_tint:
        img = np.where(tint_region(scene, r, f, rng)[..., None], (1 - f.seam_tint) * img + f.seam_tint * SPURIOUS_TINT,
                       img)
    return img


def tint_region(scene: Scene, r: Raster, f: DomainFactors, rng: np.random.Generator) -> np.ndarray:
    """Where the tint is drawn: each towel's seam fringe, or with probability `tint_decoy` its decoy band."""
    if not f.tint_decoy:
        return seam_fringe(scene, r)
    decoyed = np.append(rng.random(len(scene.towels)) < f.tint_decoy, False)[r.owner]   # owner -1: the table
    return np.where(decoyed, decoy_band(scene, r), seam_fringe(scene, r))


def seam_widths(scene: Scene, r: Raster) -> np.ndarray:
    """Each pixel's towel's seam width (0 on the table)."""
    return np.array([0.0] + [t.seam_width for t in scene.towels], np.float32)[r.owner + 1]


def seam_fringe(scene: Scene, r: Raster) -> np.ndarray:
    """The band beside each seam where the planted tint is drawn (in every domain's geometry)."""
    width = seam_widths(scene, r)
    return (r.owner >= 0) & (r.seam_dist > width / 2) & (r.seam_dist <= width / 2 + 1.5)


def decoy_band(scene: Scene, r: Raster) -> np.ndarray:
    """A band shaped like the seam fringe but 2.5 seam widths from the seam, inside the towel: where the
    spurious-correlation probe moves the tint to break its tie to seams."""
    width = seam_widths(scene, r)
    return (r.owner >= 0) & (r.seam_dist > 2.5 * width) & (r.seam_dist <= 2.5 * width + 1.5)


CUES: dict[str, tuple[int, tuple[str, ...]]] = {
    "fringe": (1, ("seam_tint",)),
    "corners": (2, ("vignetting", "chromatic_aberration")),
    "defocus": (4, ("depth_of_field",)),
}
"""Image regions where localised factors act: name -> (bit in the cue mask, factors)."""

MASK_CUES: dict[str, tuple[int, tuple[str, ...]]] = {
    "table": (0, ("table_texture", "table_photo")),
    "towel": (1, ("fabric_texture", "fold_shading")),
    "seam": (2, ("seam_contrast", "seam_stitch", "seam_ridge")),
}
"""Regions given by the semantic mask: name -> (class value, factors acting there)."""


def cue_mask(scene: Scene, r: Raster) -> np.ndarray:
    """uint8 bit mask of the `CUES` regions of a scene, independent of the domain's factors."""
    size = scene.size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    corners = ((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / (size / 2) ** 2 / 2 > 0.5
    defocus = np.abs(r.depth - scene.focus_depth) / 0.03 > 0.5
    bits = CUES["fringe"][0] * seam_fringe(scene, r) + CUES["corners"][0] * corners + CUES["defocus"][0] * defocus
    return bits.astype(np.uint8)


def _camera(img: np.ndarray, scene: Scene, r: Raster, f: DomainFactors, rng: np.random.Generator,
            xx, yy) -> np.ndarray:
    size = scene.size
    if f.light_gradient:
        d = (np.cos(scene.light_dir) * (xx - size / 2) + np.sin(scene.light_dir) * (yy - size / 2)) / size
        img = img * (1 + f.light_gradient * d)[..., None]
    if f.depth_of_field:
        blurred = cv2.GaussianBlur(img, (0, 0), f.depth_of_field)
        defocus = np.clip(np.abs(r.depth - scene.focus_depth) / 0.03, 0, 1)[..., None]
        img = (1 - defocus) * img + defocus * blurred
    if f.chromatic_aberration:
        img = _chromatic_aberration(img, f.chromatic_aberration)
    if f.vignetting:
        rr = ((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / (size / 2) ** 2 / 2
        img = img * (1 - f.vignetting * rr)[..., None]
    if f.noise_std or f.shot_noise:
        var = f.noise_std ** 2 + f.shot_noise * np.clip(img, 0, None)
        img = img + np.sqrt(var) * rng.standard_normal(img.shape).astype(np.float32)
    return img


def _chromatic_aberration(img: np.ndarray, shift: float) -> np.ndarray:
    """Scale the red and blue channels radially by +/- `shift` pixels at the corners."""
    size = img.shape[0]
    c = (size - 1) / 2
    scale = shift / (np.sqrt(2) * c)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = img.copy()
    for ch, k in ((0, 1 + scale), (2, 1 - scale)):
        mx = ((xx - c) / k + c).astype(np.float32)
        my = ((yy - c) / k + c).astype(np.float32)
        out[..., ch] = cv2.remap(img[..., ch], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out


def render_image(scene: Scene, raster: Raster, factors: DomainFactors, rng: np.random.Generator) -> np.ndarray:
    """Render `scene` as a uint8 RGB image in the domain given by `factors`."""
    size = scene.size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    img = _table(scene, factors, rng, xx, yy)
    towels, on = _towels(scene, raster, factors, rng)
    img = np.where(on[..., None], towels, img)
    img = _seams(img, scene, raster, factors, rng)
    img = _camera(img, scene, raster, factors, rng, xx, yy)
    out = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    if factors.jpeg_quality:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(factors.jpeg_quality)])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    return out
