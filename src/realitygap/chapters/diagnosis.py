"""Chapter: why? The diagnosis of the primary model: cue regions ranked by the sim model's reliance."""

from __future__ import annotations

from pathlib import Path

from realitygap.chapters.base import Context, Section, table
from realitygap.io import read_json

REGION_KEYS = ("region", "factors", "score", "attribution_points", "ablation_points")


def summary(diagnoses: dict[str, dict], primary: str) -> dict:
    """The `diagnosis` entry of metrics.json: the primary model's ranked causes and their evidence."""
    main = diagnoses[primary]
    return {"ranked_causes": main["ranked_causes"], "model": primary,
            "regions": [{k: r[k] for k in REGION_KEYS} for r in main["regions"]],
            "by_model": {m: d["ranked_causes"] for m, d in diagnoses.items()},
            **({"source": main["source"], "target": main["target"], "counterfactual": main["counterfactual"]}
               if "counterfactual" in main else {})}


def collect(ctx: Context, metrics: dict) -> None:
    if not ctx.diagnosis_dir:
        return
    diagnoses = {p.parent.name: read_json(p) for p in sorted(Path(ctx.diagnosis_dir).glob("*/diagnosis.json"))}
    if ctx.primary not in diagnoses:
        raise FileNotFoundError(f"{ctx.diagnosis_dir}: no diagnosis of the primary model {ctx.primary!r}")
    metrics["diagnosis"] = summary(diagnoses, ctx.primary)


def text(diagnosis: dict) -> str:
    """A plain-language reading of the diagnosis."""
    top = [r for r in diagnosis["regions"] if r["score"] > 0]
    if not top:
        return "No cue region draws more reliance from the sim-trained model than from the real-trained one."
    lines = []
    for r in top[:3]:
        names = ", ".join(r["factors"]) or "no differing render factor"
        attr, abl = r["attribution_points"] or 0.0, r["ablation_points"] or 0.0
        lines.append(f"{r['region']} ({names}): when it is inpainted, the sim-trained model loses {abs(abl):.1f} "
                     f"points {'more' if abl >= 0 else 'less'} seam confidence than the real-trained one, and it "
                     f"puts {abs(attr):.1f} points {'more' if attr >= 0 else 'less'} of its seam attribution there")
    return "Suspected causes of the gap, strongest first: " + "; ".join(lines) + "."


def sections(ctx: Context, metrics: dict) -> list[Section]:
    rows = [[r["region"], ", ".join(r["factors"]), r["attribution_points"], r["ablation_points"], r["score"]]
            for r in metrics.get("diagnosis", {}).get("regions", [])]
    reading = text(metrics["diagnosis"]) if "diagnosis" in metrics else "No diagnosis was run."
    header = ["region", "factors", "attribution points", "ablation points", "score"]
    return [Section("Why? The diagnosis", reading, table(header, rows))]
