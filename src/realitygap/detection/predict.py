"""`realitygap instances predict`: a trained Mask R-CNN's detections on the test split of each domain,
as COCO results (box, RLE mask, score, the domain's own category id) beside the image ids evaluated."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from realitygap.coco import mask_annotation
from realitygap.detection.data import instance_samples
from realitygap.detectors import detect, load_detector
from realitygap.io import atomic_dir, read_image, read_json, write_json
from realitygap.models import normalise
from realitygap.progress import progress


def coco_results(detections: dict, image_id: int, category_ids: list[int | None]) -> list[dict]:
    """COCO result entries of one image's detections; `category_ids[label]` is the dataset's id of each
    label (None: the dataset has no such category, so no evaluation could count the detection)."""
    out = []
    for box, score, label, mask in zip(detections["boxes"].tolist(), detections["scores"].tolist(),
                                       detections["labels"].tolist(), detections["masks"].cpu().numpy()):
        if category_ids[label] is None:
            continue
        ann = mask_annotation(mask)
        out.append({"image_id": image_id, "category_id": category_ids[label], "score": round(score, 5),
                    "bbox": [round(v, 2) for v in (box[0], box[1], box[2] - box[0], box[3] - box[1])],
                    "segmentation": ann["segmentation"]})
    return out


def predict_domain(net: torch.nn.Module, dataset: str, split: str | None, categories: list[str]) -> dict:
    """The test images' COCO ids and the detections on them."""
    names = {c["name"]: c["id"] for c in read_json(Path(dataset) / "instances.json")["categories"]}
    category_ids = [names.get(c) for c in categories]
    samples = instance_samples([{"dataset": dataset, "split": split}], 0, "test")
    results = []
    with torch.no_grad():
        for s in progress(samples, desc=f"detect {Path(dataset).name}"):
            x = normalise(net, torch.from_numpy(read_image(s["path"]))[None])
            results += coco_results(detect(net, x)[0], s["id"], category_ids)
    return {"image_ids": [s["id"] for s in samples], "detections": results}


def run_predict_instances(weights: str, model: dict, categories: list[str], datasets: dict[str, list],
                          out: str | os.PathLike, device: str = "auto") -> dict:
    """Detections of one model on the test split of each `{domain: [dataset, split]}`, written to
    `<out>/<domain>.json`."""
    net = load_detector(weights, model, categories, device)
    counts = {}
    with atomic_dir(out) as tmp:
        for domain, (dataset, split) in datasets.items():
            predicted = predict_domain(net, dataset, split, categories)
            write_json(tmp / f"{domain}.json", predicted)
            counts[domain] = len(predicted["detections"])
    return counts
