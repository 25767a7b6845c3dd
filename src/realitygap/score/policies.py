"""Gap closure of augmentation policies over training seeds (DESIGN.md section 1):

    gap_closed = (score(sim+aug on real) - score(sim on real)) / (score(real on real) - score(sim on real))

computed per seed from the `sim`, `real` and policy models trained with that seed (paired, so a
seed's luck in the baselines cancels), then averaged, with a 95 % Student-t confidence interval
over the seeds."""

from __future__ import annotations

import os
from pathlib import Path

from realitygap.io import InputError, read_json, write_json
from realitygap.stats import mean_ci95

BASELINES = ("sim", "real")


def gap_closed(score_aug: float, score_sim: float, score_real: float) -> float | None:
    """The fraction of the sim -> real gap a policy closes; None when there is no gap."""
    gap = score_real - score_sim
    return None if abs(gap) < 1e-9 else (score_aug - score_sim) / gap


def closure_study(on_real: dict[str, dict[str, float]], policies: list[str], extra: dict[str, str] | None = None) -> dict:
    """Per policy: mean mIoU on real, per-seed and mean gap closure with its CI, from
    `on_real[seed][mix]` (mIoU on the real test split; policy mixes are named `aug_<policy>`).
    `extra` maps further entries (e.g. `simsearch`) to their mixes; they are reported under their names."""
    extra = extra or {}
    mixes = {f"aug_{p}" for p in policies} | set(extra.values())
    missing = [f"{seed}/{mix}" for seed, row in on_real.items() for mix in (*BASELINES, *sorted(mixes)) if mix not in row]
    if missing:
        raise InputError(f"score policies: no real-test score for {missing}")
    out = {"baselines": {m: _stats([row[m] for row in on_real.values()]) for m in BASELINES},
           "policies": {p: closure_of(on_real, f"aug_{p}") for p in policies}}
    return out | {name: closure_of(on_real, mix) for name, mix in extra.items()}


def closure_of(on_real: dict[str, dict[str, float]], mix: str) -> dict:
    """Mean mIoU on real and gap closure of `mix` over the seeds, paired with each seed's baselines."""
    per_seed = {seed: gap_closed(row[mix], row["sim"], row["real"]) for seed, row in on_real.items()}
    valid = [v for v in per_seed.values() if v is not None]
    mean, ci = mean_ci95(valid) if valid else (None, None)
    return {**_stats([row[mix] for row in on_real.values()], "mIoU_on_real"),
            "gap_closed": _round(mean), "ci95": [_round(c) for c in ci] if ci else None,
            "gap_closed_per_seed": {s: _round(v) for s, v in per_seed.items()}, "seeds": len(on_real)}


def _stats(values: list[float], key: str = "mIoU_on_real") -> dict:
    mean, ci = mean_ci95(values)
    return {key: round(mean, 2), f"{key}_ci95": [round(c, 2) for c in ci] if ci else None}


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def run_score_policies(matrix_file: str, replicate_files: list[str], policies: list[str], model: str,
                       out: str | os.PathLike, seed_name: str = "seed0", extra: dict[str, str] | None = None) -> dict:
    """Gather the real-test mIoU of the main run (`matrix_file`) and of the replicate runs
    (`results/replicates/<seed>/scores/<mix>/<model>/real.json`) and write the closure study."""
    matrix = read_json(matrix_file)
    if model not in matrix:
        raise InputError(f"{matrix_file}: no scores of model {model!r}")
    on_real = {seed_name: {mix: row["real"]["mIoU"] for mix, row in matrix[model].items() if "real" in row}}
    for path in replicate_files:
        p = Path(path)
        seed, mix = p.parents[3].name, p.parents[1].name
        on_real.setdefault(seed, {})[mix] = read_json(p)["mIoU"]
    study = closure_study(on_real, policies, extra)
    write_json(out, study)
    return study
