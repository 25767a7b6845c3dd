"""Image-level tags: which foreground classes an image shows, the only labels the pseudo-label path uses
of the target domain's images.

Tags come from a user's CSV or JSON file (checked by `ingest` and stored as the dataset's `tags.json`),
from the held-out masks of a benchmark domain (standing in for an annotator's tags), or from a model's
predictions. A tag that the tag classifier confidently contradicts is reported and its image left out.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from realitygap.classes import ClassSet
from realitygap.io import InputError


def _rows_of_csv(path: Path, known: tuple[str, ...]) -> list[tuple[int, dict]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "image" not in reader.fieldnames:
            raise InputError(f"{path}: a tags CSV needs a header with an `image` column and one column per class")
        unknown = [c for c in reader.fieldnames if c != "image" and c not in known]
        if unknown:
            raise InputError(f"{path}: unknown class columns {unknown} (known: {list(known)})")
        rows = []
        for line, row in enumerate(reader, start=2):
            values = {c: (row[c] or "").strip() for c in reader.fieldnames if c != "image"}
            bad = {c: v for c, v in values.items() if v not in ("0", "1")}
            if bad:
                raise InputError(f"{path}, row {line}: tag values must be 0 or 1, found {bad}")
            rows.append((line, {"image": (row["image"] or "").strip(),
                                "tags": [c for c, v in values.items() if v == "1"]}))
    return rows


def _rows_of_json(path: Path, known: tuple[str, ...]) -> list[tuple[int, dict]]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err})") from err
    if isinstance(data, dict):
        data = [{"image": k, "tags": v} for k, v in data.items()]
    if not isinstance(data, list):
        raise InputError(f"{path}: tags JSON must map image -> [classes] or list {{image, tags}} rows")
    rows = []
    for index, row in enumerate(data):
        if not isinstance(row, dict) or not isinstance(row.get("tags"), list) or "image" not in row:
            raise InputError(f"{path}, row {index}: expected {{\"image\": name, \"tags\": [classes]}}")
        unknown = [c for c in row["tags"] if c not in known]
        if unknown:
            raise InputError(f"{path}, row {index} ({row['image']}): unknown classes {unknown} "
                             f"(known: {list(known)})")
        rows.append((index, {"image": str(row["image"]), "tags": list(row["tags"])}))
    return rows


def read_tags(path: str | Path, image_ids: list[str], classes: ClassSet) -> dict[str, list[str]]:
    """`{image id: [tagged classes]}` from a CSV (`image` + a 0/1 column per foreground class of `classes`) or
    JSON file, checked against the images' ids (file stems): every image tagged once, no row naming a missing
    image, no class outside `classes` (the background, in every image, is no tag)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: tags file not found")
    known_classes = classes.foreground
    rows = (_rows_of_csv if path.suffix.lower() == ".csv" else _rows_of_json)(path, known_classes)
    known, tags = set(image_ids), {}
    for where, row in rows:
        stem = Path(row["image"]).stem
        if stem not in known:
            raise InputError(f"{path}, row {where}: image {row['image']!r} is not among the images")
        if stem in tags:
            raise InputError(f"{path}, row {where}: image {row['image']!r} is tagged twice")
        tags[stem] = sorted(set(row["tags"]), key=known_classes.index)
    untagged = [i for i in image_ids if i not in tags]
    if untagged:
        raise InputError(f"{path}: {len(untagged)} images have no tags row, e.g. {untagged[:5]}")
    return tags


def tags_of_mask(mask: np.ndarray, min_pixels: int, classes: ClassSet) -> list[str]:
    """The foreground classes with at least `min_pixels` pixels in a label mask of `classes`."""
    counts = np.bincount(mask[mask != classes.ignore_index].ravel(), minlength=len(classes))
    return [c for i, c in enumerate(classes.names) if i and counts[i] >= min_pixels]


def tag_matrix(tags: list[list[str]], classes: ClassSet) -> np.ndarray:
    """(N, number of foreground classes) float 0/1 matrix of tag lists."""
    known = classes.foreground
    return np.array([[float(c in row) for c in known] for row in tags], np.float32).reshape(-1, len(known))


def contradictions(ids: list[str], tags: np.ndarray, probs: np.ndarray, low: float, high: float,
                   classes: ClassSet) -> list[dict]:
    """Tags the classifier contradicts: tagged but probability below `low`, or untagged but above `high`."""
    out = []
    for (row, col) in zip(*np.nonzero(((tags > 0.5) & (probs < low)) | ((tags < 0.5) & (probs > high)))):
        out.append({"image": ids[row], "class": classes.foreground[col], "tagged": bool(tags[row, col] > 0.5),
                    "probability": round(float(probs[row, col]), 4)})
    return out
