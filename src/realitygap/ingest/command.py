"""`realitygap ingest`."""

from __future__ import annotations

import argparse

from realitygap.cliargs import json_arg
from realitygap.io import InputError

HELP = "Validate and import a domain: image + mask folders, COCO JSON, or unlabeled images."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["masks", "coco", "unlabeled"], required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--images", required=True, help="image folder")
    p.add_argument("--masks", help="masks: folder of <image stem>.png label masks")
    p.add_argument("--coco", help="coco: instance annotation JSON")
    p.add_argument("--class-map", type=json_arg, default={},
                   help='JSON: masks: {"mask value": class}; coco: {"category name": class}')
    p.add_argument("--classes", type=json_arg, required=True,
                   help="JSON {names, palette, ignore_index}: the task's class set (params' `classes`)")
    p.add_argument("--tags", help="image-level tags (CSV: image + a 0/1 column per class; JSON: image -> "
                                  "[classes]), checked and kept as the dataset's tags.json")
    p.add_argument("--depth", help="a simulator's depth maps: folder of <image stem>.npy/.npz/.png/.tif")
    p.add_argument("--render-params", help="a simulator's per-image render parameters (CSV: image + a column per "
                                            "factor; JSON: image -> {factor: value})")
    p.add_argument("--factors", type=json_arg, help="JSON list: the factors the table must have, and only those")
    p.add_argument("--out", required=True, help="output dataset folder")


def main(a: argparse.Namespace) -> None:
    from realitygap import ingest
    from realitygap.classes import ClassSet
    classes = ClassSet.from_json(a.classes)
    simulator = {"depth": a.depth, "render_params": a.render_params, "factors": a.factors}
    if {"masks": a.masks, "coco": a.coco}.get(a.format, True) is None:
        raise InputError(f"ingest --format {a.format} needs --{a.format}")
    if a.format == "masks":
        ingest.ingest_mask_folders(a.images, a.masks, a.class_map, classes, a.domain, a.out, a.tags, simulator)
    elif a.format == "coco":
        ingest.ingest_coco(a.coco, a.images, a.class_map, classes, a.domain, a.out, a.tags, simulator)
    else:
        ingest.ingest_unlabeled(a.images, classes, a.domain, a.out, a.tags)
