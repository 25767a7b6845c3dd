"""Chapter: closing the gap with the target's unlabeled images by self-training (a mean teacher, `realitygap.uda`):
each UDA mix's gap closure, and what adaptation changed in the model's attributions on the same real images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from realitygap import figures
from realitygap.chapters.base import Context, Section, table
from realitygap.chapters.explanations import attribution_tiles
from realitygap.io import read_json


def collect(ctx: Context, metrics: dict) -> None:
    """metrics.json `uda`: the target, and per UDA mix its source, start, gap closure and attribution change."""
    mixes = ctx.cfg.get("uda_mixes", {})
    if not mixes:
        return
    entries = {}
    for mix, spec in mixes.items():
        before = spec.get("start", spec["source"])
        entries[mix] = {"source": spec["source"], "start": spec.get("start"), **ctx.study.get(mix, {}),
                        "attribution_change": attribution_change(ctx, before, mix)}
    metrics["uda"] = {"target": ctx.params["uda"]["target"], "mixes": entries}


def attribution_change(ctx: Context, before: str, after: str, reference: str = "real") -> dict:
    """Per method, the Pearson correlation of the focus class's maps with the `reference` model's on the same
    real test images, before (`before`'s model) and after adaptation (`after`'s): did UDA look where the model
    trained on real labels looks?"""
    out = {}
    for method in ctx.methods_of(after):
        maps = {mix: _focus_maps(ctx, mix, method) for mix in (before, after, reference)}
        if any(m is None for m in maps.values()):
            continue
        out[method] = {"before": _correlation(maps[before], maps[reference]),
                       "after": _correlation(maps[after], maps[reference])}
    return out


def _focus_maps(ctx: Context, mix: str, method: str) -> np.ndarray | None:
    folder = Path(ctx.explanations) / mix / ctx.primary / method
    if not (folder / "maps.npz").is_file():
        return None
    meta = read_json(folder / "meta.json")
    if ctx.focus not in meta["classes"]:
        return None
    data = np.load(folder / "maps.npz")
    real = np.asarray(data["domains"]) == "real"
    return data["maps"][real, meta["classes"].index(ctx.focus)]


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Mean over images of the Pearson correlation of two maps (None where a map is constant)."""
    values = [np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(a, b) if x.std() > 0 and y.std() > 0]
    return round(float(np.mean(values)), 3) if values else None


def sections(ctx: Context, metrics: dict) -> list[Section]:
    uda = metrics.get("uda")
    if not uda:
        return []
    header = ["mix", "source", "starts from", "mIoU on real", "gap closed", "95 % CI", "seeds"]
    rows = [[mix, v["source"], v["start"] or "-", v.get("mIoU_on_real"), v.get("gap_closed"),
             "-" if not v.get("ci95") else f"[{v['ci95'][0]:.2f}, {v['ci95'][1]:.2f}]", v.get("seeds")]
            for mix, v in uda["mixes"].items()]
    mix, first = next(iter(uda["mixes"].items()))
    before = first["start"] or first["source"]
    methods = ctx.methods_of(mix)
    tiles_rows, tiles = attribution_tiles(ctx, [before, mix, "real"], methods)
    figures.attribution_grid(tiles_rows, methods, tiles, ctx.out / "uda_attributions.png",
                             f"{ctx.focus} attributions before ({before}) and after self-training ({mix}), and of "
                             "the real model, on the same real test images")
    return [Section("Closing the gap with unlabeled real images: self-training", adaptation_text(uda, ctx.focus),
                    table(header, rows), ("uda_attributions.png",))]


def adaptation_text(uda: dict, focus: str) -> str:
    """How the mixes were trained, and per mix its closure and the attribution change, in words."""
    text = [f"A mean teacher self-trains each mix on its source's labelled images and the unlabeled train images of "
            f"{uda['target']!r} (its masks are never read): an EMA teacher's pseudo-labels weighted by their "
            "confidence, ClassMix of source onto target, strong augmentation (DACS / DAFormer)."]
    for mix, v in uda["mixes"].items():
        if v.get("gap_closed") is not None:
            text.append(f"{mix} closes {v['gap_closed']:.2f} of the gap over {v['seeds']} seed(s).")
        changes = [f"{m} {c['before']:.2f} -> {c['after']:.2f}" for m, c in v["attribution_change"].items()
                   if c["before"] is not None and c["after"] is not None]
        if changes:
            text.append(f"Correlation of its {focus} maps with the real model's, before -> after: " + ", ".join(changes) + ".")
    return " ".join(text)
