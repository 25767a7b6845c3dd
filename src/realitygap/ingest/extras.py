"""What a user's simulator can give beside images and masks: depth maps and a per-image table of its render
parameters. Depth feeds the depth-of-field augmentation; the table becomes each image's `meta/<id>.json`
factors (worst-group groups) and, as per-factor means, the domain's `factors` (the diagnosis compares them).
Every problem is an InputError naming the file and the image."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np

from realitygap.io import InputError

DEPTH_SUFFIXES = (".npy", ".npz", ".png", ".tif", ".tiff", ".exr")


def _read_depth_file(path: Path) -> np.ndarray:
    try:
        if path.suffix == ".npy":
            return np.load(path).astype(np.float32)
        if path.suffix == ".npz":
            with np.load(path) as data:
                return data["depth"].astype(np.float32)
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"{path}: not a readable depth map ({err})") from err
    depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if depth is None or depth.ndim != 2:
        raise InputError(f"{path}: not a readable one-channel depth map")
    return depth.astype(np.float32)


def read_depth_folder(folder: str | Path, shapes: dict[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    """Depth maps `<stem>.npy|.npz|.png|.tif` of every image stem in `shapes` ({stem: (H, W)}), checked for size."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: depth folder not found")
    found = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in DEPTH_SUFFIXES}
    missing = [s for s in shapes if s not in found]
    if missing:
        raise InputError(f"{folder}: no depth map for images {missing[:5]} ({', '.join(DEPTH_SUFFIXES)})")
    out = {}
    for stem, shape in shapes.items():
        depth = _read_depth_file(found[stem])
        if depth.shape != tuple(shape):
            raise InputError(f"{found[stem]}: depth size {depth.shape[1]}x{depth.shape[0]} does not match its image "
                             f"{shape[1]}x{shape[0]}")
        out[stem] = depth
    return out


def _table_rows(path: Path) -> list[tuple[str, dict]]:
    """(where, {image, factor: value...}) rows of a CSV (`image` + a column per factor) or JSON file."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "image" not in reader.fieldnames:
                raise InputError(f"{path}: a render-parameter CSV needs an `image` column and one column per factor")
            return [(f"row {line}", row) for line, row in enumerate(reader, start=2)]
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not readable JSON ({err})") from err
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InputError(f"{path}: render-parameter JSON must map image -> {{factor: value}}")
    return [(f"image {k!r}", {"image": k, **v}) for k, v in data.items()]


def read_render_params(path: str | Path, stems: list[str], factors: list[str] | None = None) -> dict[str, dict]:
    """`{stem: {factor: value}}` from a per-image table, checked: one row per image, no unknown image, numbers
    only, and (when `factors` is given) exactly those factors."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: render-parameter table not found")
    known, table = set(stems), {}
    for where, row in _table_rows(path):
        stem = Path(str(row.pop("image") or "")).stem
        if stem not in known:
            raise InputError(f"{path}, {where}: image {stem!r} is not among the images")
        if stem in table:
            raise InputError(f"{path}, {where}: image {stem!r} has two rows")
        unknown = sorted(set(row) - set(factors)) if factors is not None else []
        if unknown:
            raise InputError(f"{path}, {where}: unknown factors {unknown} (declared: {factors})")
        try:
            table[stem] = {k: float(v) for k, v in row.items()}
        except (TypeError, ValueError) as err:
            raise InputError(f"{path}, {where}: factor values must be numbers ({err})") from err
        if any(not math.isfinite(v) for v in table[stem].values()):
            raise InputError(f"{path}, {where}: factor values must be finite")
    missing = [s for s in stems if s not in table]
    if missing:
        raise InputError(f"{path}: {len(missing)} images have no row, e.g. {missing[:5]}")
    return table


def domain_factors(table: dict[str, dict]) -> dict[str, float]:
    """Each factor's mean over the images: the domain's look, as the diagnosis compares domains."""
    names = sorted({k for row in table.values() for k in row})
    return {k: round(float(np.mean([row[k] for row in table.values() if k in row])), 6) for k in names}
