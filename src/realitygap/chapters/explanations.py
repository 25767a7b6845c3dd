"""Chapter: what does each model look at? Attribution grids and the explanation scores of every mix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from realitygap import figures
from realitygap.chapters.base import Context, Section, table
from realitygap.explain.overlay import overlay_path
from realitygap.io import read_image, read_json

FAITHFULNESS = ("average_drop", "increase_in_confidence", "average_retention", "average_drop_of_others",
                "deletion_auc", "insertion_auc")


def collect(ctx: Context, metrics: dict) -> None:
    """metrics.json `explanations[mix][method]`: faithfulness, localisation, sanity of the primary model."""
    xai = {}
    for mix in ctx.mixes:
        scores = {m: read_json(Path(ctx.xai_scores) / mix / ctx.primary / f"{m}.json") for m in ctx.methods_of(mix)}
        if scores:
            xai[mix] = {m: {"faithfulness": v["faithfulness"], "localisation": v["localisation"],
                            "sanity_spearman": v.get("sanity", {}).get("spearman_full")} for m, v in scores.items()}
    metrics["explanations"] = xai


def attribution_tiles(ctx: Context, mixes: list[str], methods: list[str], domain: str = "real"
                      ) -> tuple[list[str], list[list[np.ndarray]]]:
    """Overlays of the focus class's target on the first images of `domain`: a row per image and model
    (train mix), a column per method, so each image's models stack above each other."""
    rows, tiles = [], []
    for k in range(ctx.cfg["attribution_images"]):
        for mix in mixes:
            row = []
            for method in methods:
                folder = Path(ctx.explanations) / mix / ctx.primary / method
                meta = read_json(folder / "meta.json")
                t = meta["classes"].index(ctx.focus) if ctx.focus in meta["classes"] else 0
                picks = [i for i, d in enumerate(meta["domains"]) if d == domain]
                if k >= len(picks):
                    return rows, tiles
                i = picks[k]
                row.append(read_image(overlay_path(folder, meta["domains"][i], meta["ids"][i], meta["classes"][t])))
            rows.append(f"img {k + 1}: {mix}")
            tiles.append(row)
    return rows, tiles


def sections(ctx: Context, metrics: dict) -> list[Section]:
    base = [m for m in ctx.mixes if m not in ctx.policy_mixes and m not in ctx.cfg.get("unexplained_mixes", [])]
    rows, tiles = attribution_tiles(ctx, base, ctx.cfg["methods"])
    focus = ctx.focus
    figures.attribution_grid(rows, ctx.cfg["methods"], tiles, ctx.out / "attribution_grid.png",
                             f"{focus} attributions of {ctx.primary} on real test images (white: true {focus})")
    header = ["train mix", "method", "Avg Drop %", "Incr. Conf. %", "Avg Retention %", "Drop of Others %",
              "deletion AUC", "insertion AUC", "pointing game %", f"{focus} area %", "sanity Spearman"]
    rows = [[mix, m, *[v["faithfulness"].get(focus, {}).get(k) for k in FAITHFULNESS],
             v["localisation"].get(focus, {}).get("energy_pointing_game"),
             v["localisation"].get(focus, {}).get("own_area"), v.get("sanity_spearman")]
            for mix, row in metrics["explanations"].items() for m, v in row.items()]
    text = (f"Attributions of the {focus} class (Seg-Grad-CAM target: its logits summed over the target region), "
            f"their faithfulness scores on that target, and the rank correlation with the maps of a randomised "
            "model (sanity: near 0 is good).")
    return [Section("What does each model look at?", text, table(header, rows), ("attribution_grid.png",))]
