"""Segmentation scores from a confusion matrix, in percent as mmseg prints them.

Definitions follow mmseg's IoUMetric (tests compare against it): IoU = TP / (TP + FP + FN) per class,
mIoU its mean over classes present in truth or prediction, aAcc = correct / all pixels,
Dice = 2TP / (2TP + FP + FN). Pixels labelled `ignore_index` are left out.
"""

from __future__ import annotations

import numpy as np

from typing import Sequence


def confusion_matrix(pred: np.ndarray, truth: np.ndarray, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """(num_classes, num_classes) counts, rows = truth, columns = prediction."""
    keep = truth != ignore_index
    idx = truth[keep].astype(np.int64) * num_classes + pred[keep].astype(np.int64)
    return np.bincount(idx, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def scores_from_confusion(cm: np.ndarray, classes: Sequence[str]) -> dict:
    """mIoU, aAcc, mDice, per-class IoU and Dice (keyed by the names `classes`, in label order), and the worst
    class IoU, all in percent."""
    tp = np.diag(cm).astype(np.float64)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (tp + fp + fn)
        dice = 2 * tp / (2 * tp + fp + fn)
    present = (tp + fp + fn) > 0
    iou_pct = {c: round(float(v) * 100, 2) if p else None for c, v, p in zip(classes, iou, present)}
    dice_pct = {c: round(float(v) * 100, 2) if p else None for c, v, p in zip(classes, dice, present)}
    valid = [v for v in iou_pct.values() if v is not None]
    return {
        "mIoU": round(float(np.nanmean(iou[present])) * 100, 2),
        "aAcc": round(float(tp.sum() / cm.sum()) * 100, 2),
        "mDice": round(float(np.nanmean(dice[present])) * 100, 2),
        "IoU": iou_pct,
        "Dice": dice_pct,
        "worst_class_IoU": min(valid),
    }


def segmentation_scores(pred: np.ndarray, truth: np.ndarray, classes: Sequence[str], ignore_index: int = 255) -> dict:
    """Scores of predicted label maps against truth (any shapes, equal)."""
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} does not match truth shape {truth.shape}")
    return scores_from_confusion(confusion_matrix(pred, truth, len(classes), ignore_index), classes)
