"""Chapter: what should the simulator change? The render search's best look against the two domains."""

from __future__ import annotations

from pathlib import Path

from realitygap.chapters.base import Context, Section, table
from realitygap.io import read_json


def summary(search: dict, closure: dict | None, params: dict) -> dict:
    """The `simsearch` entry of metrics.json: trials, the best look, the factors it moved toward the target,
    and the retrained model's gap closure."""
    look = search["look"]
    out = {"trials": search["trials"], "complete": search["complete"], "pruned": search["pruned"],
           "best_params": {**look["factors"], **({"randomise": look["randomise"]} if look["randomise"] else {})},
           "best_val_mIoU": search["best"]["mIoU_val"], "importances": search["importances"]}
    for key in ("gap_closed", "ci95", "mIoU_on_real", "mIoU_on_real_ci95", "gap_closed_per_seed", "seeds"):
        out[key] = (closure or {}).get(key)
    return out | {"toward_target": toward_target(look, params)}


def _domain_looks(params: dict) -> tuple[dict | None, dict | None]:
    """The search's base and target domains' render factors (None for a domain our renderer does not make:
    its look is the user's simulator's or a camera's)."""
    cfg, domains = params["simsearch"], params["render"]["domains"]
    return domains.get(cfg["base"]), domains.get(cfg["target"])


def _best_of(look: dict, name: str) -> float | list[float]:
    """A factor's value in a look: its per-image range when randomised, else its fixed value (0 = off)."""
    return look["randomise"].get(name) or look["factors"].get(name, 0)


def toward_target(look: dict, params: dict) -> dict[str, bool]:
    """Per searched factor: whether the best look lies closer to the target domain's value than the base
    domain's does (a randomised factor by the centre of its range)."""
    base, target = _domain_looks(params)
    if base is None or target is None:
        return {name: None for name in params["simsearch"]["space"]}
    out = {}
    for name in params["simsearch"]["space"]:
        best = _best_of(look, name)
        value = sum(best) / 2 if isinstance(best, list) else best
        out[name] = abs(value - target.get(name, 0)) < abs(base.get(name, 0) - target.get(name, 0))
    return out


def rows_of(search: dict, summary: dict, params: dict) -> list[list]:
    """Per searched factor: the base and target domains' values, the best look's, whether it moved
    toward the target, and its importance."""
    base, target = _domain_looks(params)
    rows = []
    for name in params["simsearch"]["space"]:
        best = _best_of(search["look"], name)
        shown = f"U[{best[0]:.3f}, {best[1]:.3f}]" if isinstance(best, list) else best
        importance = next((v for k, v in search["importances"].items() if k.split(".")[0] == name), None)
        moved = {True: "yes", False: "no", None: "-"}[summary["toward_target"][name]]
        known = lambda look: None if look is None else look.get(name, 0)    # noqa: E731  (0 = off)
        rows.append([name, known(base), known(target), shown, moved, importance])
    return rows


def text(summary: dict, search: dict) -> str:
    """A plain-language reading of the render search."""
    closed = summary.get("gap_closed")
    closure = ("" if closed is None else f" Retrained at full budget on the best look, the model closes {closed:.2f} "
               f"of the gap on real test images (mean of {summary['seeds']} seeds).")
    top = ", ".join(list(summary["importances"])[:3]) or "not enough complete trials to rank them"
    return (f"Optuna (TPE sampler, median pruner) ran {summary['trials']} trials ({summary['pruned']} pruned) in "
            f"{search['wall_s']:.0f} s; each rendered a training set with the trial's look, trained on a short "
            f"budget and was scored on the target domain's validation split. Best: {summary['best_val_mIoU']:.1f} "
            f"validation mIoU (trial {search['best']['number']}). Most important factors: {top}.{closure} "
            "The paste-able params override is results/simsearch/best_params.yaml.")


def collect(ctx: Context, metrics: dict) -> None:
    if ctx.simsearch_file:
        metrics["simsearch"] = summary(read_json(ctx.simsearch_file), ctx.study.get("simsearch"), ctx.params)


def sections(ctx: Context, metrics: dict) -> list[Section]:
    if not ctx.simsearch_file:
        return []
    search, folder = read_json(ctx.simsearch_file), Path(ctx.simsearch_file).parent
    header = ["render factor", "base domain", "target domain", "best look", "toward target", "fANOVA importance"]
    return [Section("What should the simulator change?", text(metrics["simsearch"], search),
                    table(header, rows_of(search, metrics["simsearch"], ctx.params)),
                    (folder / "history.png", folder / "importances.png"))]
