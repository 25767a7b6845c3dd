"""`realitygap experiments report`: the ablation table (per variant: means over seeds, and deltas against
the base model paired by seed, with Student-t 95 % intervals) and the probe's table, with their figures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import stats

from realitygap.chapters.base import Context, Section, table
from realitygap.figures import plt, save_figure
from realitygap.io import InputError, read_json, write_json
from realitygap.stats import mean_ci95
from realitygap.variants import BASE

COLUMNS = ("train_mIoU", "mIoU_test", "worst_group_IoU", "mIoU_on_target", "target_on_target", "gap_points")


def seed_row(source: dict, target: dict, source_domains: list[str], target_domains: list[str]) -> dict:
    """One seed's figures of a variant from the scores of its source-mix and target-mix models."""
    def on(scores: dict, domains: list[str]) -> float:
        return float(np.mean([scores["test"][d]["mIoU"] for d in domains]))
    row = {"train_mIoU": source["train"]["mIoU"], "mIoU_test": on(source, source_domains),
           "worst_group_IoU": source["worst_group_IoU"], "mIoU_on_target": on(source, target_domains),
           "target_on_target": on(target, target_domains)}
    return row | {"gap_points": row["target_on_target"] - row["mIoU_on_target"], "worst_group": source["worst_group"]}


def _mean_ci(values: list[float]) -> tuple[float, list[float] | None]:
    mean, ci = mean_ci95(values)
    return round(mean, 2), [round(c, 2) for c in ci] if ci else None


def ablation_table(rows: dict[str, dict[str, dict]]) -> dict:
    """Per variant (`rows[variant][seed]`): each column's mean and CI, and its delta against the base model
    at the same seeds (paired) with CI. The base must have every seed a variant has."""
    if BASE not in rows:
        raise InputError("experiments report: no scores of the base model")
    table = {}
    for variant, seeds in rows.items():
        missing = sorted(set(seeds) - set(rows[BASE]))
        if missing:
            raise InputError(f"experiments report: base model has no scores at seeds {missing} of {variant!r}")
        entry: dict = {"seeds": len(seeds), "worst_groups": sorted({r["worst_group"] for r in seeds.values()}),
                       "ci95": {}, "delta": {}, "delta_ci95": {}}
        for col in COLUMNS:
            entry[col], entry["ci95"][col] = _mean_ci([r[col] for r in seeds.values()])
            entry["delta"][col], entry["delta_ci95"][col] = _mean_ci(
                [r[col] - rows[BASE][s][col] for s, r in seeds.items()])
        table[variant] = entry
    return table


def probe_table(results: list[dict]) -> dict:
    """The probe's figures by strength, and Spearman's rho of the score drop and the attribution on the cue
    against the strength (reliance rising with the correlation shows as rho > 0)."""
    results = sorted(results, key=lambda r: r["strength"])
    rows = [{"strength": r["strength"], "mIoU_correlated": r["scores"]["correlated"]["mIoU"],
             "mIoU_broken": r["scores"]["broken"]["mIoU"], "mIoU_drop": r["mIoU_drop"],
             "seam_IoU_drop": r["seam_IoU_drop"], "mass_on_cue": r["attribution"]["mass_on_cue"],
             "cue_area_share": r["attribution"]["cue_area_share"], "method": r["attribution"]["method"]}
            for r in results]
    strengths = [r["strength"] for r in rows]

    def rho(key: str) -> float | None:
        if len(rows) < 3:
            return None
        value = stats.spearmanr(strengths, [r[key] for r in rows]).statistic
        return None if np.isnan(value) else round(float(value), 3)
    return {"rows": rows, "spearman_vs_strength": {k: rho(k) for k in ("mIoU_drop", "seam_IoU_drop", "mass_on_cue")}}


def ablation_figure(table: dict, path: str | os.PathLike) -> None:
    """Deltas against the base model with 95 % CI, one panel per column that differs between designs."""
    variants = [v for v in table if v != BASE]
    cols = ("mIoU_test", "worst_group_IoU", "mIoU_on_target", "gap_points")
    fig, axes = plt.subplots(1, len(cols), figsize=(3.2 * len(cols), 0.8 + 0.4 * max(len(variants), 1)), sharey=True)
    for ax, col in zip(axes, cols):
        deltas = [table[v]["delta"][col] for v in variants]
        errs = [[d - (table[v]["delta_ci95"][col] or [d, d])[0] for v, d in zip(variants, deltas)],
                [(table[v]["delta_ci95"][col] or [d, d])[1] - d for v, d in zip(variants, deltas)]]
        good = [(d < 0) if col == "gap_points" else (d > 0) for d in deltas]
        ax.barh(variants, deltas, xerr=errs, color=["tab:green" if g else "tab:red" for g in good], alpha=0.8,
                capsize=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(f"Δ {col} (points)", fontsize=9)
    fig.suptitle("Ablations against the base model (mean over seeds, 95 % CI; green = better)", fontsize=10)
    save_figure(fig, path)


def probe_figure(probe: dict, path: str | os.PathLike) -> None:
    """Score drop and attribution on the cue against the correlation strength."""
    rows = probe["rows"]
    s = [r["strength"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3))
    a.plot(s, [r["mIoU_drop"] for r in rows], "o-", label="mIoU")
    a.plot(s, [r["seam_IoU_drop"] for r in rows], "s--", label="seam IoU")
    a.set(xlabel="cue-seam correlation in training", ylabel="drop when broken (points)", title="score drop")
    a.legend(fontsize=8)
    b.plot(s, [r["mass_on_cue"] for r in rows], "o-", color="tab:purple", label="attribution on cue")
    b.plot(s, [r["cue_area_share"] for r in rows], ":", color="gray", label="fringe's share of towel area")
    b.set(xlabel="cue-seam correlation in training", ylabel="share", title=f"seam attribution ({rows[0]['method']})")
    b.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def run_report(score_files: list[str], probe_files: list[str], source_mix: str, target_mix: str,
               source_domains: list[str], target_domains: list[str], out: str | os.PathLike) -> dict:
    """Gather `<variant>/<seed>/<mix>/scores.json` files and the probe's JSON files; write
    `ablations.json`, `ablations.png`, `probe.json` and `probe.png` under `out`."""
    scores: dict[str, dict[str, dict[str, dict]]] = {}
    for f in score_files:
        p = Path(f)
        scores.setdefault(p.parents[2].name, {}).setdefault(p.parents[1].name, {})[p.parent.name] = read_json(p)
    rows = {v: {s: seed_row(m[source_mix], m[target_mix], source_domains, target_domains) for s, m in seeds.items()}
            for v, seeds in scores.items()}
    out = Path(out)
    table = ablation_table(rows)
    write_json(out / "ablations.json", {"source_mix": source_mix, "target_mix": target_mix, "variants": table,
                                        "per_seed": rows})
    ablation_figure(table, out / "ablations.png")
    result = {"ablations": table}
    if probe_files:
        probe = probe_table([read_json(f) for f in probe_files])
        write_json(out / "probe.json", probe)
        probe_figure(probe, out / "probe.png")
        result["probe"] = probe
    return result


def ablation_metrics(table: dict) -> dict:
    """The `ablations` entry of metrics.json: per variant the contract's keys, the other columns and the deltas."""
    return {v: {"mIoU_test": e["mIoU_test"], "worst_group_IoU": e["worst_group_IoU"], "gap_points": e["gap_points"],
                "train_mIoU": e["train_mIoU"], "mIoU_on_target": e["mIoU_on_target"], "seeds": e["seeds"],
                "delta": e["delta"], "delta_ci95": e["delta_ci95"]} for v, e in table.items()}


def _delta(entry: dict, col: str) -> str:
    ci = entry["delta_ci95"][col]
    return f"{entry['delta'][col]:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")


def ablation_rows(table: dict) -> tuple[list[str], list[list]]:
    """Header and rows of the report's ablation table (deltas against the base, 95 % CI over seeds)."""
    header = ["variant", "train mIoU", "test mIoU", "Δ test", "worst-group IoU", "Δ worst group", "mIoU on target",
              "gap points", "Δ gap", "seeds"]
    rows = [[v, e["train_mIoU"], e["mIoU_test"], _delta(e, "mIoU_test"), e["worst_group_IoU"],
             _delta(e, "worst_group_IoU"), e["mIoU_on_target"], e["gap_points"], _delta(e, "gap_points"), e["seeds"]]
            for v, e in table.items()]
    return header, rows


def probe_rows(probe: dict) -> tuple[list[str], list[list]]:
    """Header and rows of the report's probe table."""
    header = ["cue-seam correlation", "mIoU correlated", "mIoU broken", "mIoU drop", "seam IoU drop",
              "attribution on cue", "cue area share"]
    return header, [[r["strength"], r["mIoU_correlated"], r["mIoU_broken"], r["mIoU_drop"], r["seam_IoU_drop"],
                     r["mass_on_cue"], r["cue_area_share"]] for r in probe["rows"]]


def ablation_text(ablations: dict, source_mix: str, target_mix: str) -> str:
    """A plain-language reading of the ablation table."""
    variants = {v: e for v, e in ablations.items() if v != BASE}
    if not variants:
        return "Only the base model was trained."
    best = min(variants, key=lambda v: variants[v]["delta"]["gap_points"])
    e = variants[best]
    return (f"Each variant changes the base model in one design choice (or a grid of them) and is trained on "
            f"{source_mix} and {target_mix} at the same budget and seeds. Deltas are against the base at the same "
            f"seed (95 % Student-t CI over seeds); the gap is the {target_mix}-trained model's mIoU on {target_mix} "
            f"test images minus the {source_mix}-trained one's. The variant that narrows the gap most is {best} "
            f"({e['delta']['gap_points']:+.2f} points).")


def probe_text(probe: dict) -> str:
    """A plain-language reading of the probe."""
    rho = probe["spearman_vs_strength"]
    def fmt(v):
        return "-" if v is None else f"{v:+.2f}"
    return ("The tint is drawn beside seams with the given probability during training (otherwise on a decoy band "
            "away from the seam); at test time every tint is on its decoy band. Reliance on the cue shows as the "
            "score drop, and as the share of the seam attribution on the tinted fringe of test images with every "
            "tint beside its seam (against the fringe's share of the towel area). Spearman's rho against the "
            f"correlation strength: mIoU drop {fmt(rho['mIoU_drop'])}, seam IoU drop {fmt(rho['seam_IoU_drop'])}, "
            f"attribution on the cue {fmt(rho['mass_on_cue'])}.")


def collect(ctx: Context, metrics: dict) -> None:
    if not ctx.experiments_dir:
        return
    folder = Path(ctx.experiments_dir)
    metrics["ablations"] = ablation_metrics(read_json(folder / "ablations.json")["variants"])
    if (folder / "probe.json").is_file():
        metrics["probe"] = read_json(folder / "probe.json")


def sections(ctx: Context, metrics: dict) -> list[Section]:
    out, exp = [], ctx.params.get("experiments", {})
    if "ablations" in metrics:
        out.append(Section("Does a design choice change the gap? Ablations",
                           ablation_text(metrics["ablations"], exp["source_mix"], exp["target_mix"]),
                           table(*ablation_rows(metrics["ablations"])),
                           (Path(ctx.experiments_dir) / "ablations.png",)))
    if "probe" in metrics:
        out.append(Section("Does the model rely on a spurious cue? The probe", probe_text(metrics["probe"]),
                           table(*probe_rows(metrics["probe"])), (Path(ctx.experiments_dir) / "probe.png",)))
    return out
