"""Intervals over seeds: the Student-t 95 % interval every gap-closure and ablation table quotes."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_ci95(values: list[float]) -> tuple[float, list[float] | None]:
    """Mean and Student-t 95 % interval; no interval from a single value."""
    v = np.asarray(values, float)
    if len(v) < 2:
        return float(v.mean()), None
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), [float(v.mean() - half), float(v.mean() + half)]
