"""`realitygap score segmentation` and `score matrix`: segmentation scores of predictions, and the
train-mix x test-domain matrix they make."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from realitygap.io import atomic_path, read_json, write_json
from realitygap.segmentation_metrics import segmentation_scores


def run_score_segmentation(predictions: str | os.PathLike, out: str | os.PathLike) -> dict:
    """Score one predictions file (from `predict`) and write the scores as JSON."""
    with np.load(predictions) as data:
        scores = segmentation_scores(data["pred"], data["truth"], [str(c) for c in data["classes"]],
                                     int(data["ignore_index"]))
        scores["images"] = int(len(data["ids"]))
    write_json(out, scores)
    return scores


def run_score_matrix(score_files: list[str], out_json: str | os.PathLike, out_csv: str | os.PathLike) -> dict:
    """Gather `.../{mix}/{model}/{domain}.json` score files into one matrix (JSON and CSV)."""
    matrix: dict = {}
    classes: list[str] = []           # the class names of the scores, in label order
    for path in score_files:
        p = Path(path)
        domain, model, mix = p.stem, p.parent.name, p.parent.parent.name
        scores = matrix.setdefault(model, {}).setdefault(mix, {})[domain] = read_json(p)
        classes = classes or list(scores["IoU"])
    write_json(out_json, matrix)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["model", "mix", "domain", "mIoU", "aAcc", "mDice", *(f"IoU_{c}" for c in classes)])
    for model, mixes in matrix.items():
        for mix, domains in mixes.items():
            for domain, s in domains.items():
                writer.writerow([model, mix, domain, s["mIoU"], s["aAcc"], s["mDice"],
                                 *(s["IoU"][c] for c in classes)])
    with atomic_path(out_csv) as tmp:
        tmp.write_text(buf.getvalue())
    return matrix
