"""Batches of a split and a segmentation model's predictions on them: what predict, explain, score,
diagnose and the experiments all read."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from realitygap.data import Sample
from realitygap.io import InputError, read_image, read_mask
from realitygap.models import forward_logits
from realitygap.progress import progress


def load_batch(samples: list[Sample], num_classes: int | None = None,
               common_size: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W, 3) uint8 and masks (N, H, W) uint8 of `samples`, checked for size: the images of one
    batch share one size (an InputError names two that differ), or with `common_size` images of another size
    than the first are resized to it (bilinear; masks nearest): explanations compare domains of different
    sizes at the first one's resolution."""
    images = [read_image(s.image) for s in samples]
    if common_size:
        masks = [read_mask(s.mask, img.shape[:2], num_classes) for s, img in zip(samples, images)]
        h, w = images[0].shape[:2]
        fit = lambda a, how: a if a.shape[:2] == (h, w) else cv2.resize(a, (w, h), interpolation=how)  # noqa: E731
        return (np.stack([fit(img, cv2.INTER_LINEAR) for img in images]),
                np.stack([fit(m, cv2.INTER_NEAREST) for m in masks]))
    other = next((i for i, img in enumerate(images) if img.shape != images[0].shape), None)
    if other is not None:
        raise InputError(f"{samples[other].image} is {images[other].shape[1]}x{images[other].shape[0]}, "
                         f"{samples[0].image} {images[0].shape[1]}x{images[0].shape[0]}: the images of a domain "
                         "must share one size to be predicted and explained together")
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
