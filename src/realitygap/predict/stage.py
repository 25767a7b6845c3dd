"""`realitygap predict`: predicted label masks of one model on the test splits of one or more datasets."""

from __future__ import annotations

import os

import numpy as np

from realitygap.classes import dataset_classes
from realitygap.data import load_samples
from realitygap.inference import predict_samples
from realitygap.io import save_npz
from realitygap.models import load_model


def run_predict(weights: str, model: dict, size: int, dataset: str | list[str], split: str | list[str],
                out: str | os.PathLike | list, device: str = "auto", batch_size: int = 16) -> dict:
    """Predict every `test` sample of `dataset` and save ids, predictions, truth and the class names and ignore
    value (the dataset's) to `out` (.npz). Lists of datasets, splits and outputs are predicted in turn by the
    model loaded once."""
    datasets, splits, outs = ([v] if isinstance(v, (str, os.PathLike)) else list(v) for v in (dataset, split, out))
    net = load_model(weights, model, size, device)
    total = 0
    for ds, sp, path in zip(datasets, splits, outs, strict=True):
        classes = dataset_classes(ds)
        samples = load_samples(ds, sp, "test")
        pred, truth = predict_samples(net, samples, batch_size)
        save_npz(path, ids=np.array([s.id for s in samples]), pred=pred, truth=truth, classes=np.array(classes.names),
                 ignore_index=np.array(classes.ignore_index))
        total += len(samples)
    return {"samples": total}
