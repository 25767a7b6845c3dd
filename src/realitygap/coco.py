"""COCO mask annotations: binary masks to RLE annotations and back (through pycocotools); LVIS
frequency groups of categories."""

from __future__ import annotations

import numpy as np


def mask_annotation(mask: np.ndarray) -> dict:
    """A COCO annotation body (RLE `segmentation`, `area`, `bbox`, `iscrowd`) of a binary mask."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode()
    return {"segmentation": rle, "iscrowd": 0, "area": float(mask_utils.area(rle)),
            "bbox": [float(v) for v in mask_utils.toBbox(rle)]}


def annotation_mask(ann: dict, h: int, w: int) -> np.ndarray:
    """The boolean (h, w) mask of an annotation given as polygons, uncompressed or compressed RLE."""
    from pycocotools import mask as mask_utils

    seg = ann["segmentation"]
    if isinstance(seg, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
    elif isinstance(seg.get("counts"), list):
        rle = mask_utils.frPyObjects(seg, h, w)
    else:
        rle = seg
    return mask_utils.decode(rle).astype(bool)


def frequency_group(image_count: int) -> str:
    """LVIS frequency group of a category from the number of images it appears in."""
    return "r" if image_count <= 10 else "c" if image_count <= 100 else "f"
