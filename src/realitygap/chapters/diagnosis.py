"""Chapter: why? The diagnosis of the primary model: the render factors' transplanted effects on the sim model
(what to tell the simulator to change) and the cue regions it relies on."""

from __future__ import annotations

from pathlib import Path

from realitygap import figures
from realitygap.chapters.base import Context, Section, table
from realitygap.io import read_json

REGION_KEYS = ("region", "factors", "score", "attribution_points", "ablation_points")


def summary(diagnoses: dict[str, dict], primary: str) -> dict:
    """The `diagnosis` entry of metrics.json: the primary model's ranked causes and their evidence."""
    main = diagnoses[primary]
    return {"ranked_causes": main["ranked_causes"], "model": primary, **factor_effects(main),
            "regions": [{k: r[k] for k in REGION_KEYS} for r in main["regions"]],
            "by_model": {m: d["ranked_causes"] for m, d in diagnoses.items()},
            **({"source": main["source"], "target": main["target"], "counterfactual": main["counterfactual"]}
               if "counterfactual" in main else {})}


def factor_effects(diagnosis: dict) -> dict:
    """Per transplanted factor: its effect on the source model (mIoU points, 95 % CI), its share of the look gap
    and, with the fine-tune evidence, what fixing it gained a short fine-tuning on the target look; the pairs'
    interactions; the ranking rule (empty without a transplant)."""
    transplant = diagnosis.get("transplant")
    if not transplant:
        return {}
    gap = transplant.get("look_gap_points")           # image statistics: no look to swap as a whole
    gains = {r["factors"][0]: r for r in (diagnosis.get("finetune") or {}).get("factors", [])}
    factors = [{"factor": r["factors"][0], "score_points": r["score_points"], "score_ci": r["score_ci"],
                "effect_points": r["effect_points"], "effect_ci": r["effect_ci"],
                **({"reliance_points": r["reliance_points"], "reliance_ci": r["reliance_ci"]} if "reliance_points" in r
                   else {}),
                **({"finetune_points": gains[r["factors"][0]]["gain_points"],
                    "finetune_ci": gains[r["factors"][0]]["gain_ci"]} if r["factors"][0] in gains else {}),
                "gap_share": round(r["effect_points"] / gap, 3) if gap and gap > 0 else None}
               for r in transplant["factors"]]
    pairs = [{"factors": p["factors"], "effect_points": p["effect_points"], "interaction_points": p["interaction_points"],
              "interaction_ci": p["interaction_ci"]} for p in transplant.get("pairs", [])]
    return {"factors": factors, "pairs": pairs, "look_gap_points": gap, "evidence": transplant["kind"],
            "ranking_rule": diagnosis["ranking_rule"]}


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


def change_rows(diagnosis: dict, importances: dict) -> list[list]:
    """Rows of the 'what to change' table: factor, effect, interval, share of the gap, the render search's
    fANOVA importance of the factor (where it searched it)."""
    return [[f["factor"], f["score_points"], f"[{f['score_ci'][0]}, {f['score_ci'][1]}]", f["effect_points"],
             f.get("reliance_points", "-"), f["gap_share"],
             f"{f['finetune_points']} [{f['finetune_ci'][0]}, {f['finetune_ci'][1]}]" if "finetune_points" in f else "-",
             importances.get(f["factor"], "-"),
             "change it" if f["score_ci"][0] > 0 else "no shown effect"] for f in diagnosis["factors"]]


def change_text(diagnosis: dict) -> str:
    strong = [f for f in diagnosis["factors"] if f["score_ci"][0] > 0]
    if not strong:
        return "No factor, transplanted alone, measurably moves the sim- or the real-trained model."
    named = "; ".join(f"{f['factor']} (score {f['score_points']:+.1f} mIoU points, 95 % CI {f['score_ci']})"
                      for f in strong[:3])
    pairs = [p for p in diagnosis["pairs"] if abs(p["interaction_points"]) >= 1]
    joint = "" if not pairs else " Pairs that act together: " + "; ".join(
        f"{' + '.join(p['factors'])} (interaction {p['interaction_points']:+.1f})" for p in pairs) + "."
    if diagnosis["evidence"] == "image statistics":
        how = ("No renderer draws both domains, so each image statistic of the real images (noise, sharpness, power "
               "spectrum, colour, JPEG blockiness) was carried onto the sim test images by a transform; the sim-trained "
               "model's mIoU moves by each statistic's effect.")
    else:
        how = (f"Rendered on fresh scenes with one factor as in the real look (and the real look with one factor as "
               f"in the sim look), the sim-trained model's mIoU moves by each factor's effect (the whole look gap: "
               f"{diagnosis['look_gap_points']:.1f} points), and the real-trained model's by its reliance on the "
               f"factor: a cue real images offer that the simulator lacks. The score is their sum.")
    return (f"{how} Change first: {named}.{joint}{finetune_text(diagnosis)} The xai_guided policy follows: "
            f"{diagnosis['ranking_rule']}.")


def finetune_text(diagnosis: dict) -> str:
    """A sentence on the fine-tune evidence's strongest gains (empty without it)."""
    gains = sorted((f for f in diagnosis["factors"] if "finetune_points" in f), key=lambda f: -f["finetune_points"])
    if not gains:
        return ""
    named = "; ".join(f"{f['factor']} ({f['finetune_points']:+.1f}, 95 % CI {f['finetune_ci']})" for f in gains[:3])
    return (" Fine-tuned briefly on sim scenes with one factor as in the real look, the sim-trained model gained most "
            f"on the real look (mIoU points) with: {named}.")


def sections(ctx: Context, metrics: dict) -> list[Section]:
    diagnosis = metrics.get("diagnosis", {})
    out = []
    if diagnosis.get("factors"):
        figures.effect_bars(diagnosis["factors"], ctx.out / "factor_effects.png")
        importances = metrics.get("simsearch", {}).get("importances") or {}
        header = ["factor", "score (mIoU points)", "95 % CI", "effect on the sim model", "reliance of the real model",
                  "effect's share of the look gap", "fine-tune gain (95 % CI)", "search importance", "verdict"]
        out.append(Section("What should the simulator change?", change_text(diagnosis),
                           table(header, change_rows(diagnosis, importances)), ("factor_effects.png",)))
    rows = [[r["region"], ", ".join(r["factors"]), r["attribution_points"], r["ablation_points"], r["score"]]
            for r in diagnosis.get("regions", [])]
    reading = text(diagnosis) if diagnosis else "No diagnosis was run."
    header = ["region", "factors", "attribution points", "ablation points", "score"]
    return out + [Section("Why? The diagnosis", reading, table(header, rows))]
