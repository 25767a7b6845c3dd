"""`realitygap predict`: predicted label masks of one model on one test split."""

from __future__ import annotations

import os

import numpy as np
import torch

from realitygap.data import Sample, load_samples
from realitygap.io import read_image, read_mask, save_npz
from realitygap.models import forward_logits, load_model
from realitygap.progress import progress


def load_batch(samples: list[Sample], num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W, 3) uint8 and masks (N, H, W) uint8 of `samples`, checked for size."""
    images = [read_image(s.image) for s in samples]
    masks = [read_mask(s.mask, img.shape[:2], num_classes) for s, img in zip(samples, images)]
    return np.stack(images), np.stack(masks)


def predict_samples(net: torch.nn.Module, samples: list[Sample], batch_size: int = 16,
                    desc: str = "predict batches") -> tuple[np.ndarray, np.ndarray]:
    """Predicted label maps and truth masks (N, H, W) uint8 of `samples`."""
    preds, truths = [], []
    with torch.no_grad():
        for i in progress(range(0, len(samples), batch_size), desc=desc):
            images, masks = load_batch(samples[i:i + batch_size])
            logits = forward_logits(net, torch.from_numpy(images))
            preds.append(logits.argmax(1).to(torch.uint8).cpu().numpy())
            truths.append(masks)
    return np.concatenate(preds), np.concatenate(truths)


def run_predict(weights: str, model: dict, size: int, dataset: str, split: str, out: str | os.PathLike,
                device: str = "auto", batch_size: int = 16) -> dict:
    """Predict every `test` sample of `dataset` and save ids, predictions and truth to `out` (.npz)."""
    net = load_model(weights, model, size, device)
    samples = load_samples(dataset, split, "test")
    pred, truth = predict_samples(net, samples, batch_size)
    save_npz(out, ids=np.array([s.id for s in samples]), pred=pred, truth=truth)
    return {"samples": len(samples)}
