"""Export a dataset in the formats `ingest` reads, so data moves between realitygap and other tools
(and so ingest is tested by round trips)."""

from __future__ import annotations

import os
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from realitygap.classes import dataset_classes
from realitygap.coco import annotation_mask, mask_annotation
from realitygap.io import read_json, read_mask, write_json, write_png


def spread_values(names: tuple[str, ...]) -> dict[str, int]:
    """Mask values spread evenly over 0..255, one per class in label order (0 and 255 at the ends)."""
    return {name: round(i * 255 / (len(names) - 1)) for i, name in enumerate(names)}


def export_mask_folders(dataset: str | os.PathLike, out: str | os.PathLike,
                        values: dict[str, int] | None = None) -> dict:
    """Write `out/images/` and `out/masks/` (class -> `values`, by default `spread_values`); returns the class
    map to ingest them."""
    dataset, out = Path(dataset), Path(out)
    names = dataset_classes(dataset).names
    values = values or spread_values(names)
    lut = np.array([values[c] for c in names], np.uint8)
    for sample in read_json(dataset / "manifest.json")["samples"]:
        (out / "images").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dataset / sample["image"], out / "images" / f"{sample['id']}.png")
        write_png(out / "masks" / f"{sample['id']}.png", lut[read_mask(dataset / sample["mask"])])
    return {str(v): c for c, v in values.items()}


def export_coco(dataset: str | os.PathLike, out_json: str | os.PathLike) -> dict:
    """COCO JSON of a dataset with instances (`instances.json`): its instances, plus one annotation per image
    for each foreground class that no instance category covers (a category named as the class). Returns the
    class map (category -> class) to ingest it with the dataset's folder as images; an instance category's
    class is the label most of its pixels have in the masks."""
    dataset = Path(dataset)
    names = dataset_classes(dataset).names
    coco = read_json(dataset / "instances.json")
    masks = {im["id"]: read_mask(dataset / im["file_name"].replace("images/", "masks/", 1)) for im in coco["images"]}
    votes: dict[int, Counter] = defaultdict(Counter)
    for ann in coco["annotations"]:
        mask = masks[ann["image_id"]]
        votes[ann["category_id"]][int(np.bincount(mask[annotation_mask(ann, *mask.shape)]).argmax())] += 1
    class_of = {c["name"]: names[votes[c["id"]].most_common(1)[0][0]] for c in coco["categories"] if votes[c["id"]]}
    first_id = max(c["id"] for c in coco["categories"]) + 1
    other = [k for k in range(1, len(names)) if names[k] not in class_of.values()]
    categories = coco["categories"] + [{"id": first_id + j, "name": names[k]} for j, k in enumerate(other)]
    annotations = list(coco["annotations"])
    for image in coco["images"]:
        for j, k in enumerate(other):
            region = masks[image["id"]] == k
            if region.any():
                annotations.append({"id": len(annotations) + 1, "image_id": image["id"], "category_id": first_id + j,
                                    **mask_annotation(region)})
    write_json(out_json, dict(coco, annotations=annotations, categories=categories))
    return {c["name"]: class_of.get(c["name"], c["name"]) for c in categories}
