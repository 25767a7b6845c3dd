"""`realitygap experiments evaluate`: one variant model's scores on its training images (so overfitting
shows), on the test split of each test domain, and per group of the test images (worst group)."""

from __future__ import annotations

import os

import numpy as np

from realitygap.classes import common_classes
from realitygap.data import load_samples, source_samples
from realitygap.experiments.groups import group_scores, image_groups, sample_meta
from realitygap.io import write_json
from realitygap.models import load_model
from realitygap.inference import predict_samples
from realitygap.segmentation_metrics import segmentation_scores


def run_evaluate(weights: str, model: dict, size: int, sources: list[dict], test: dict[str, list[str]],
                 groups: list[str], min_group_images: int, seed: int, out: str | os.PathLike,
                 device: str = "auto") -> dict:
    """Write `out` (JSON): `train` scores on the mix's training samples (`sources`, drawn with `seed` as
    `train` drew them), `test` scores per domain of `test` ({domain: [dataset, split file]}) and the group
    scores of all test images together."""
    classes = common_classes([src["dataset"] for src in sources] + [dataset for dataset, _ in test.values()])
    net = load_model(weights, model, size, device)
    pred, truth = predict_samples(net, source_samples(sources, seed), desc="train images")
    result = {"train": segmentation_scores(pred, truth, classes.names, classes.ignore_index), "test": {}}
    preds, truths, memberships = [], [], []
    for domain, (dataset, split) in test.items():
        samples = load_samples(dataset, split, "test")
        pred, truth = predict_samples(net, samples, desc=f"{domain} test images")
        result["test"][domain] = segmentation_scores(pred, truth, classes.names, classes.ignore_index)
        preds.append(pred)
        truths.append(truth)
        memberships += [image_groups(domain, sample_meta(s), groups) for s in samples]
    per_image = lambda arrays: [a for batch in arrays for a in batch]    # noqa: E731  (domains may differ in size)
    result |= group_scores(per_image(preds), per_image(truths), memberships, classes, min_group_images)
    write_json(out, result)
    return result
