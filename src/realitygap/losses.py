"""Segmentation losses from params, as mmseg loss configs (mmseg's registry builds and sums them).

A loss is a preset name or a list of weighted terms:
`[{type: ce, weight: 1.0, class_weight: [0.5, 1, 3]}, {type: dice, weight: 0.5}]`, where `class_weight`
may be `frequency`: median-frequency balancing (Eigen and Fergus, 2015), w_c = median(f) / f_c over
the pixel frequencies f of the training masks, resolved by `train` before the model is built.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

PRESETS: dict[str, list[dict]] = {
    "ce": [{"type": "ce"}],
    "weighted_ce": [{"type": "ce", "class_weight": [0.5, 1.0, 3.0]}],
    "dice": [{"type": "ce"}, {"type": "dice"}],
    "focal": [{"type": "focal"}],
}
TERMS = {
    "ce": dict(type="IgnoreAwareCrossEntropyLoss", use_sigmoid=False, loss_name="loss_ce"),   # mmseg_losses.py
    "dice": dict(type="DiceLoss", loss_name="loss_dice"),
    "focal": dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.5, loss_name="loss_focal"),
}
WEIGHTED = ("ce", "focal")      # the terms mmseg gives a class_weight


def loss_terms(loss: str | list[dict]) -> list[dict]:
    """The list of terms of a preset name or of an explicit list (checked)."""
    terms = PRESETS.get(loss) if isinstance(loss, str) else loss
    if terms is None:
        raise ValueError(f"unknown loss {loss!r} (presets: {sorted(PRESETS)}, or a list of terms)")
    for term in terms:
        if term.get("type") not in TERMS:
            raise ValueError(f"loss term {term!r}: type must be one of {sorted(TERMS)}")
        if term.get("class_weight") is not None and term["type"] not in WEIGHTED:
            raise ValueError(f"loss term {term!r}: only {list(WEIGHTED)} take a class_weight")
    return terms


def needs_frequencies(loss: str | list[dict]) -> bool:
    """Whether a term asks for class weights from the training masks' pixel frequencies."""
    return any(t.get("class_weight") == "frequency" for t in loss_terms(loss))


def frequency_weights(masks: Iterable[np.ndarray], num_classes: int, ignore_index: int = 255) -> list[float]:
    """Median-frequency class weights of label masks (a class never seen gets the largest weight)."""
    counts = np.zeros(num_classes, np.float64)
    for mask in masks:
        counts += np.bincount(mask[mask != ignore_index].ravel(), minlength=num_classes)[:num_classes]
    if not counts.sum():
        raise ValueError("class weights from frequencies: the training masks have no labelled pixel")
    freq = counts / counts.sum()
    seen = freq > 0
    weights = np.where(seen, np.median(freq[seen]) / np.where(seen, freq, 1.0), 0.0)
    weights[~seen] = weights.max()
    return [round(float(w), 6) for w in weights]


def loss_config(loss: str | list[dict], class_weights: list[float] | None = None) -> list[dict]:
    """mmseg `loss_decode` configs; `class_weights` fill the terms whose class_weight is `frequency`."""
    configs = []
    for term in loss_terms(loss):
        cfg = dict(TERMS[term["type"]], loss_weight=float(term.get("weight", 1.0)))
        weight = term.get("class_weight")
        if weight == "frequency":
            if class_weights is None:
                raise ValueError("loss: class_weight `frequency` needs the training masks' class weights")
            weight = class_weights
        if weight is not None:
            cfg["class_weight"] = [float(w) for w in weight]
        configs.append(cfg)
    return configs
