"""Instance scores through pycocotools: COCO mask and box AP, AP50, AP75, and AP by LVIS frequency
group (rare / common / frequent: the mean of the per-category APs of the group's categories)."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np

from realitygap.coco import frequency_group
from realitygap.io import read_json, write_json

GROUPS = {"r": "AP_r", "c": "AP_c", "f": "AP_f"}


def category_groups(coco: dict) -> dict[int, str]:
    """LVIS group of each category id: the file's `frequency`, else from the images it appears in."""
    images: dict[int, set] = {c["id"]: set() for c in coco["categories"]}
    for ann in coco["annotations"]:
        images[ann["category_id"]].add(ann["image_id"])
    return {c["id"]: c.get("frequency") or frequency_group(c.get("image_count", len(images[c["id"]])))
            for c in coco["categories"]}


def _evaluate(gt, detections: list[dict], image_ids: list[int], iou_type: str):
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        found = gt.loadRes(detections)
        evaluation = COCOeval(gt, found, iou_type)
        evaluation.params.imgIds = image_ids
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


def category_ap(evaluation) -> dict[int, float]:
    """AP (0-100) of each category with ground truth in the evaluated images: the mean of its precision
    over IoU thresholds and recall points (all areas, 100 detections), as COCO's summary averages it."""
    precision = evaluation.eval["precision"][:, :, :, 0, -1]
    return {cat: float(precision[:, :, k].mean()) * 100 for k, cat in enumerate(evaluation.params.catIds)
            if (precision[:, :, k] > -1).any()}


def score_instances(gt_file: str | os.PathLike, predicted: dict) -> dict:
    """Scores of `predicted` (`image_ids`, COCO `detections`) against the COCO file `gt_file`."""
    from pycocotools.coco import COCO

    coco = read_json(gt_file)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco
        gt.createIndex()
    image_ids = predicted["image_ids"]
    listed = set(image_ids)
    evaluated = {a["category_id"] for a in coco["annotations"] if a["image_id"] in listed}
    names = {c["id"]: c["name"] for c in coco["categories"]}
    scores = {"images": len(image_ids), "detections": len(predicted["detections"])}
    if not predicted["detections"]:           # pycocotools cannot load an empty result: every AP is 0
        per_category = {cat: 0.0 for cat in evaluated}
        scores |= {f"{kind}_{stat}": 0.0 for kind in ("segm", "bbox") for stat in ("AP", "AP50", "AP75")}
    else:
        for kind in ("segm", "bbox"):
            stats = _evaluate(gt, predicted["detections"], image_ids, kind)
            scores |= {f"{kind}_AP": stats.stats[0] * 100, f"{kind}_AP50": stats.stats[1] * 100,
                       f"{kind}_AP75": stats.stats[2] * 100}
            if kind == "segm":
                per_category = category_ap(stats)
    groups = category_groups(coco)
    for group, key in GROUPS.items():
        values = [ap for cat, ap in per_category.items() if groups[cat] == group]
        scores[key] = float(np.mean(values)) if values else None
    scores["AP_per_category"] = {names[cat]: round(ap, 3) for cat, ap in sorted(per_category.items())}
    scores["frequency"] = {names[cat]: groups[cat] for cat in sorted(evaluated)}
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in scores.items()}


def run_score_instances(predictions: str | os.PathLike, datasets: dict[str, str], out: str | os.PathLike) -> dict:
    """Score one model's `<predictions>/<domain>.json` against each `{domain: dataset}`; write `out`."""
    scores = {domain: score_instances(Path(dataset) / "instances.json",
                                      read_json(Path(predictions) / f"{domain}.json"))
              for domain, dataset in datasets.items()}
    write_json(out, scores)
    return scores
