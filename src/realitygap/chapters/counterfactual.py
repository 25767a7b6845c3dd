"""The report's counterfactual section: what the sim- and real-trained models need changed in the
same test images to answer otherwise (from the diagnosis' counterfactual evidence and the explain
stage's arrays)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from realitygap import figures
from realitygap.chapters.base import Context, Section, table
from realitygap.explain.overlay import overlay_path
from realitygap.classes import ClassSet
from realitygap.io import read_image, read_json



def counterfactual_rows(diagnosis: dict) -> tuple[list[str], list[list]]:
    """Header and rows: per model and domain, flips, directions, size of |M| and where it lies."""
    evidence = [(role, domain, v) for role, per_domain in diagnosis.get("counterfactual", {}).items()
                for domain, v in per_domain.items()]
    regions = list(dict.fromkeys(r for _, _, v in evidence for r in v["share"]))
    header = ["model", "test domain", "counterfactuals", "flipped %", "add / remove", "mean |M| (grey levels)",
              *[f"|M| on {r} %" for r in regions]]
    rows = [[diagnosis[role], domain, v["counterfactuals"], v["flip_rate"],
             f"{v['directions']['add']} / {v['directions']['remove']}", v["mean_abs_change"],
             *[v["share"].get(r) for r in regions]] for role, domain, v in evidence]
    return header, rows


def counterfactual_text(diagnosis: dict, class_name: str) -> str:
    """A plain-language reading of the counterfactual evidence on real test images."""
    evidence = diagnosis.get("counterfactual", {})
    real = {role: evidence.get(role, {}).get("real") for role in ("source", "target")}
    if not all(real.values()):
        return "No counterfactuals of both models on real test images."
    s, t = real["source"], real["target"]
    return (f"What must change in a real photo for a model to answer otherwise about the {class_name}: a generator "
            f"trained against each frozen model writes an additive map M (Learn-Explain-Reinforce) toward the "
            f"{class_name} where the model misses it (add) or away from it where it sees it (remove). The "
            f"{diagnosis['source']}-trained model needed `add` on {s['directions']['add']} of "
            f"{s['counterfactuals']} real images, the {diagnosis['target']}-trained one on "
            f"{t['directions']['add']} of {t['counterfactuals']}; {s['flip_rate']:.0f} % and {t['flip_rate']:.0f} % "
            f"flipped with a mean |M| of {s['mean_abs_change']:.1f} and {t['mean_abs_change']:.1f} grey levels, "
            f"{s['share'].get(class_name, 0):.0f} % and {t['share'].get(class_name, 0):.0f} % of it on the "
            f"{class_name} itself.")


def label_colours(pred: np.ndarray, palette: tuple) -> np.ndarray:
    """RGB image of a label map in the class colours `palette`."""
    colours = np.array(palette, np.uint8)
    return colours[np.clip(pred, 0, len(colours) - 1)]


def counterfactual_figure(explanations: Path, mixes: list[str], model: str, class_name: str, count: int,
                          path: str | os.PathLike, classes: ClassSet, domain: str = "real") -> None:
    """Rows: the first `count` images of `domain`, once per model (mix); columns: the image, the
    model's answer, the counterfactual x', its answer, and |M| over the image."""
    rows, tiles = [], []
    for k in range(count):
        for mix in mixes:
            folder = explanations / mix / model / "counterfactual"
            meta = read_json(folder / "meta.json")
            picks = [i for i, d in enumerate(meta["domains"]) if d == domain]
            if k >= len(picks):
                break
            i, t = picks[k], meta["classes"].index(class_name)
            row = next((r for r in meta["counterfactual"]["rows"] if r["image"] == i and r["target"] == t), None)
            with np.load(folder / "arrays.npz") as data:
                image, moved = data["image"][i], data["counterfactual"][i, t]
                before, after = data["before"][i], data["after"][i, t]
            verdict = "no region" if row is None else f"{row['direction']}, {'flipped' if row['flipped'] else 'not flipped'}"
            rows.append(f"img {k + 1}: {mix}\n({verdict})")
            overlay = read_image(overlay_path(folder, meta["domains"][i], meta["ids"][i], class_name))
            tiles.append([image, label_colours(before, classes.palette), moved, label_colours(after, classes.palette),
                          overlay])
    figures.attribution_grid(rows, ["image", "answer", "counterfactual x'", "answer on x'", "|M|"], tiles, path,
                             f"Counterfactuals for the {class_name} (answers in the class colours of params' `classes`)")


def collect(ctx: Context, metrics: dict) -> None:
    """Nothing of its own: the counterfactual evidence is the diagnosis' (metrics.json `diagnosis.counterfactual`)."""


def sections(ctx: Context, metrics: dict) -> list[Section]:
    diagnosis = metrics.get("diagnosis", {})
    if "counterfactual" not in diagnosis:
        return []
    cfg = ctx.params["diagnose"]
    counterfactual_figure(Path(ctx.explanations), [cfg["source_mix"], cfg["target_mix"]], ctx.primary,
                          cfg["target_class"], ctx.cfg["attribution_images"], ctx.out / "counterfactuals.png", ctx.classes)
    return [Section("What would have to change? Counterfactual maps", counterfactual_text(diagnosis, cfg["target_class"]),
                    table(*counterfactual_rows(diagnosis)), ("counterfactuals.png",))]
