"""`realitygap score`: segmentation scores of predictions, the train-mix x test-domain matrix, and
faithfulness/localisation scores of explanations."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from realitygap import CLASSES
from realitygap.data import load_samples
from realitygap.io import atomic_path, read_json, write_json
from realitygap.models import load_model
from realitygap.predict import load_batch
from realitygap.score.explanations import faithfulness, seam_share
from realitygap.score.segmentation import segmentation_scores


def run_score_segmentation(predictions: str | os.PathLike, out: str | os.PathLike) -> dict:
    """Score one predictions file (from `predict`) and write the scores as JSON."""
    with np.load(predictions) as data:
        scores = segmentation_scores(data["pred"], data["truth"])
        scores["images"] = int(len(data["ids"]))
    write_json(out, scores)
    return scores


def run_score_matrix(score_files: list[str], out_json: str | os.PathLike, out_csv: str | os.PathLike) -> dict:
    """Gather `.../{mix}/{model}/{domain}.json` score files into one matrix (JSON and CSV)."""
    matrix: dict = {}
    for path in score_files:
        p = Path(path)
        domain, model, mix = p.stem, p.parent.name, p.parent.parent.name
        matrix.setdefault(model, {}).setdefault(mix, {})[domain] = read_json(p)
    write_json(out_json, matrix)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["model", "mix", "domain", "mIoU", "aAcc", "mDice", *(f"IoU_{c}" for c in CLASSES)])
    for model, mixes in matrix.items():
        for mix, domains in mixes.items():
            for domain, s in domains.items():
                writer.writerow([model, mix, domain, s["mIoU"], s["aAcc"], s["mDice"],
                                 *(s["IoU"][c] for c in CLASSES)])
    with atomic_path(out_csv) as tmp:
        tmp.write_text(buf.getvalue())
    return matrix


def run_score_explanations(explanations: str | os.PathLike, weights: str, model: dict, size: int,
                           datasets: dict[str, str], out: str | os.PathLike, device: str = "auto") -> dict:
    """Faithfulness (Average Drop, Increase in Confidence) and seam share of one explain output."""
    explanations = Path(explanations)
    meta = read_json(explanations / "meta.json")
    with np.load(explanations / "maps.npz") as data:
        maps, truth, pred = data["maps"].astype(np.float32), data["truth"], data["pred"]
    by_id = {s.id: s for dataset in datasets.values() for s in load_samples(dataset)}
    images, _ = load_batch([by_id[i] for i in meta["ids"]])
    class_indices = [CLASSES.index(c) for c in meta["classes"]]
    labels = pred if meta["region"] == "predicted" else truth
    regions = np.stack([labels == c for c in class_indices], 1)
    net = load_model(weights, model, size, device)
    result = {"method": meta["method"], "images": len(meta["ids"]),
              "faithfulness": faithfulness(net, images, maps, class_indices, regions),
              "localisation": seam_share(maps, truth, class_indices),
              "by_domain": {}}
    for domain in sorted(set(meta["domains"])):
        pick = np.array(meta["domains"]) == domain
        result["by_domain"][domain] = {
            "faithfulness": faithfulness(net, images[pick], maps[pick], class_indices, regions[pick]),
            "localisation": seam_share(maps[pick], truth[pick], class_indices)}
    write_json(out, result)
    return result
