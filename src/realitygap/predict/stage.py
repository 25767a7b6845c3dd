"""`realitygap predict`: predicted label masks of one model on one test split."""

from __future__ import annotations

import os

import numpy as np

from realitygap.classes import dataset_classes
from realitygap.data import load_samples
from realitygap.inference import predict_samples
from realitygap.io import save_npz
from realitygap.models import load_model


def run_predict(weights: str, model: dict, size: int, dataset: str, split: str, out: str | os.PathLike,
                device: str = "auto", batch_size: int = 16) -> dict:
    """Predict every `test` sample of `dataset` and save ids, predictions, truth and the class names and ignore
    value (the dataset's) to `out` (.npz)."""
    classes = dataset_classes(dataset)
    net = load_model(weights, model, size, device)
    samples = load_samples(dataset, split, "test")
    pred, truth = predict_samples(net, samples, batch_size)
    save_npz(out, ids=np.array([s.id for s in samples]), pred=pred, truth=truth, classes=np.array(classes.names),
             ignore_index=np.array(classes.ignore_index))
    return {"samples": len(samples)}
