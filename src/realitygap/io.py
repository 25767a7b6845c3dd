"""Atomic file output and validated image input.

Every stage writes through these helpers: a file is written under a temporary name in the same
directory and renamed into place, so an interrupted stage never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np


class InputError(ValueError):
    """Bad user input: the message names the file and what is wrong with it."""


def current_umask() -> int:
    """The process's umask (reading it means setting it: it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _honour_umask(path: Path, mode: int) -> None:
    """Give `path` the mode a plain open() or mkdir() would: `mode` less the umask. `mkstemp` and
    `mkdtemp` create private files (0600, 0700), which a renamed output would otherwise keep."""
    os.chmod(path, mode & ~current_umask())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _honour_umask(tmp_path, 0o666)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary directory; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    try:
        yield tmp
        _honour_umask(tmp, 0o777)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_to_builtin) + "\n")


def listed(samples: list | str | os.PathLike) -> list:
    """A dataset's samples: the list itself, or the JSON file it was written to (`runner.externalise_samples`)."""
    return samples if isinstance(samples, list) else read_json(samples)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or malformed file raises InputError naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err})") from err


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an RGB (H, W, 3) or single-channel uint8/uint16 image as PNG, atomically."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    with atomic_path(path) as tmp:
        ok, buf = cv2.imencode(".png", image)
        if not ok:
            raise OSError(f"{path}: PNG encoding failed")
        tmp.write_bytes(buf.tobytes())


def _decode(path: str | os.PathLike, flags: int, what: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    data = cv2.imdecode(np.fromfile(path, dtype=np.uint8), flags)
    if data is None:
        raise InputError(f"{path}: not a readable {what} (corrupt or unsupported format)")
    return data


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an RGB image as uint8 (H, W, 3); a missing or corrupt file raises InputError."""
    return cv2.cvtColor(_decode(path, cv2.IMREAD_COLOR, "image"), cv2.COLOR_BGR2RGB)


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None,
              num_classes: int | None = None) -> np.ndarray:
    """Read a label mask (H, W) and check its size and class values when given."""
    mask = _decode(path, cv2.IMREAD_UNCHANGED, "mask")
    if mask.ndim != 2:
        raise InputError(f"{path}: a mask must have one channel, found shape {mask.shape}")
    if shape is not None and mask.shape != tuple(shape):
        raise InputError(f"{path}: mask size {mask.shape[1]}x{mask.shape[0]} does not match "
                         f"its image {shape[1]}x{shape[0]}")
    if num_classes is not None and mask.size and int(mask.max()) >= num_classes:
        bad = sorted(set(np.unique(mask).tolist()) - set(range(num_classes)))
        raise InputError(f"{path}: unknown class values {bad} (expected 0..{num_classes - 1})")
    return mask


def read_depth(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """Read a depth map (H, W) saved by `render` as `depth` in an .npz and check its size."""
    try:
        with np.load(path) as data:
            depth = data["depth"].astype(np.float32)
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"{path}: not a readable depth map ({err})") from err
    if depth.shape != tuple(shape):
        raise InputError(f"{path}: depth size {depth.shape[1]}x{depth.shape[0]} does not match "
                         f"its image {shape[1]}x{shape[0]}")
    return depth


def save_npz(path: str | os.PathLike, **arrays: Any) -> None:
    """Save arrays to a compressed .npz, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def _to_builtin(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
