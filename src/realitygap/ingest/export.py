"""Export a dataset in the formats `ingest` reads, so data moves between realitygap and other tools
(and so ingest is tested by round trips)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from realitygap import CLASSES
from realitygap.coco import mask_annotation
from realitygap.io import read_json, read_mask, write_json, write_png

MASK_VALUES = {"background": 0, "towel": 128, "seam": 255}
"""Default mask values of exported mask folders (a class map for `ingest --format masks`)."""


def export_mask_folders(dataset: str | os.PathLike, out: str | os.PathLike,
                        values: dict[str, int] = MASK_VALUES) -> dict:
    """Write `out/images/` and `out/masks/` (class -> `values`); returns the class map to ingest them."""
    dataset, out = Path(dataset), Path(out)
    lut = np.array([values[c] for c in CLASSES], np.uint8)
    for sample in read_json(dataset / "manifest.json")["samples"]:
        (out / "images").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dataset / sample["image"], out / "images" / f"{sample['id']}.png")
        write_png(out / "masks" / f"{sample['id']}.png", lut[read_mask(dataset / sample["mask"])])
    return {str(v): c for c, v in values.items()}


def export_coco(dataset: str | os.PathLike, out_json: str | os.PathLike) -> dict:
    """COCO JSON of a rendered dataset: its item instances plus one `seam` annotation per image;
    returns the class map (category -> class) to ingest it with the dataset's folder as images."""
    dataset = Path(dataset)
    coco = read_json(dataset / "instances.json")
    seam_id = max(c["id"] for c in coco["categories"]) + 1
    annotations = list(coco["annotations"])
    for image in coco["images"]:
        mask = read_mask(dataset / image["file_name"].replace("images/", "masks/", 1))
        seam = mask == CLASSES.index("seam")
        if seam.any():
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"], "category_id": seam_id,
                                **mask_annotation(seam)})
    categories = coco["categories"] + [{"id": seam_id, "name": "seam"}]
    write_json(out_json, dict(coco, annotations=annotations, categories=categories))
    return {c["name"]: ("seam" if c["id"] == seam_id else "towel") for c in categories}
