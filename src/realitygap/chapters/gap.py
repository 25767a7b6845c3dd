"""Chapter: how big is the gap? The train-mix x test-domain matrix of the primary model."""

from __future__ import annotations

from realitygap import figures
from realitygap.chapters.base import Context, Section, table

SCORES = ("mIoU", "aAcc", "mDice", "IoU", "worst_class_IoU")


def collect(ctx: Context, metrics: dict) -> None:
    """metrics.json `semantic`: the primary model's matrix, the gap, and every model's mIoU."""
    semantic = {mix: {d: {k: s[k] for k in SCORES if k in s} for d, s in row.items()}
                for mix, row in ctx.matrix[ctx.primary].items()}
    sim_real, real_real = semantic["sim"]["real"]["mIoU"], semantic["real"]["real"]["mIoU"]
    metrics["semantic"] = {
        "matrix": semantic,
        "gap": {"metric": "mIoU", "sim_on_real": sim_real, "real_on_real": real_real,
                "points": round(real_real - sim_real, 2)},
        "models": {m: {mix: {d: s["mIoU"] for d, s in row.items()} for mix, row in mixes.items()}
                   for m, mixes in ctx.matrix.items()}}


def headline(metrics: dict) -> str:
    gap = metrics["semantic"]["gap"]
    return (f"The sim-trained model reaches {gap['sim_on_real']:.1f} mIoU on real test images, the "
            f"real-trained one {gap['real_on_real']:.1f}: a reality gap of {gap['points']:.1f} points.")


def sections(ctx: Context, metrics: dict) -> list[Section]:
    matrix = metrics["semantic"]["matrix"]
    figures.gap_heatmap(matrix, "mIoU", ctx.out / "gap_matrix.png")
    domains = sorted({d for row in matrix.values() for d in row})
    classes = ctx.classes.names
    rows = [[mix, *[row[d]["mIoU"] for d in domains], *[row["real"]["IoU"][c] for c in classes],
             row["real"].get("worst_class_IoU")] for mix, row in matrix.items()]
    header = ["train mix", *[f"{d} mIoU" for d in domains], *[f"real IoU {c}" for c in classes],
              "real worst-class IoU"]
    return [Section("How big is the gap?", headline(metrics), table(header, rows), ("gap_matrix.png",))]
