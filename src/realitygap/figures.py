"""Report figures, drawn with matplotlib (Agg) and saved as PNG atomically."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from realitygap.io import atomic_path  # noqa: E402


def save_figure(fig, path: str | os.PathLike) -> None:
    """Write a matplotlib figure as PNG, atomically, and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def gap_heatmap(matrix: dict, metric: str, path: str | os.PathLike) -> None:
    """Annotated heat map of `metric` for train mixes (rows) x test domains (columns)."""
    mixes = list(matrix)
    domains = sorted({d for row in matrix.values() for d in row})
    values = np.array([[matrix[m].get(d, {}).get(metric, np.nan) for d in domains] for m in mixes], float)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(domains), 1.0 + 0.55 * len(mixes)))
    im = ax.imshow(values, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    for i in range(len(mixes)):
        for j in range(len(domains)):
            v = values[i, j]
            ax.text(j, i, "-" if np.isnan(v) else f"{v:.1f}", ha="center", va="center",
                    color="white" if v < 60 else "black", fontsize=10)
    ax.set_xticks(range(len(domains)), [f"test: {d}" for d in domains])
    ax.set_yticks(range(len(mixes)), [f"train: {m}" for m in mixes])
    ax.set_title(f"{metric} (%) by training mix and test domain")
    fig.colorbar(im, ax=ax, fraction=0.046)
    save_figure(fig, path)


def attribution_grid(rows: list[str], columns: list[str], tiles: list[list[np.ndarray]],
                     path: str | os.PathLike, title: str) -> None:
    """A grid of RGB tiles with row and column labels (rows: image x model, columns: methods)."""
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(1.6 * len(columns), 1.7 * len(rows)),
                             squeeze=False)
    for i, row in enumerate(rows):
        for j, col in enumerate(columns):
            ax = axes[i][j]
            ax.imshow(tiles[i][j])
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(col, fontsize=8)
            if j == 0:
                ax.set_ylabel(row, fontsize=8)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def closure_bars(policies: dict[str, dict], path: str | os.PathLike) -> None:
    """Bars of mean gap closure per policy, best first, with 95 % CI whiskers and the seeds as dots."""
    names = sorted((n for n in policies if policies[n]["gap_closed"] is not None),
                   key=lambda n: -policies[n]["gap_closed"])
    values = [policies[n]["gap_closed"] for n in names]
    fig, ax = plt.subplots(figsize=(1.5 + 1.1 * max(len(names), 1), 3.2))
    ax.bar(names, values, color=["tab:green" if v > 0 else "tab:red" for v in values], alpha=0.8)
    for i, n in enumerate(names):
        ci = policies[n].get("ci95")
        if ci:
            ax.errorbar(i, values[i], yerr=[[values[i] - ci[0]], [ci[1] - values[i]]], color="black", capsize=4)
        seeds = [v for v in policies[n].get("gap_closed_per_seed", {}).values() if v is not None]
        ax.plot([i] * len(seeds), seeds, "k.", ms=4)
        ax.text(i + 0.12, values[i], f"{values[i]:.2f}", ha="left", va="bottom", fontsize=8)
    ax.axhline(0, color="black", lw=0.8)
    ax.axhline(1, color="gray", lw=0.8, ls="--")
    ax.set_ylabel("gap closed (1 = real-trained)")
    ax.set_title("Gap closure by augmentation policy (mean, 95 % CI, seeds)")
    ax.tick_params(axis="x", labelrotation=20)
    save_figure(fig, path)


def effect_bars(factors: list[dict], path: str | os.PathLike) -> None:
    """Horizontal bars of each factor's score (mIoU points: its effect on the source model plus the target
    model's reliance on it), highest on top, with 95 % interval whiskers and the effect as a dot."""
    rows = factors[::-1]
    values = [r["score_points"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 0.8 + 0.32 * max(len(rows), 1)))
    ax.barh([r["factor"] for r in rows], values, color=["tab:red" if v > 0 else "tab:gray" for v in values], alpha=0.8)
    for i, r in enumerate(rows):
        lo, hi = r["score_ci"]
        ax.errorbar(values[i], i, xerr=[[values[i] - lo], [hi - values[i]]], color="black", capsize=3)
    ax.plot([r["effect_points"] for r in rows], range(len(rows)), "k.", ms=5, label="effect on the sim model alone")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("score: mIoU points (95 % CI)")
    ax.set_title("What each factor does to the sim- and real-trained models")
    ax.legend(loc="lower right", fontsize=7)
    save_figure(fig, path)
