"""What the render search hands the simulator team: the best look as a params override to paste,
the parameter importances (fANOVA), the optimisation history, and the look for the final retraining."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
import yaml  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from realitygap.io import InputError, atomic_path, write_json, write_text  # noqa: E402
from realitygap.simsearch.space import look_of  # noqa: E402
from realitygap.simsearch.study import SearchSetup, open_study  # noqa: E402


def importances(study: optuna.Study) -> dict[str, float]:
    """fANOVA importance of each searched parameter (empty below two complete trials or no variation)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2 or len({t.value for t in complete}) < 2:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    return {k: round(float(v), 4) for k, v in optuna.importance.get_param_importances(study, evaluator=evaluator).items()}


def override_yaml(base_domain: str, look: dict, trials: int, value: float) -> str:
    """A params.yaml fragment that renders the base domain with the best look."""
    domain = dict(look["factors"], **({"randomise": look["randomise"]} if look["randomise"] else {}))
    domain = {k: round(v, 4) if isinstance(v, float) else v for k, v in domain.items()}
    header = (f"# realitygap simsearch: best of {trials} trials (mIoU {value:.2f} on the target's validation split).\n"
              f"# Paste under params.yaml to render `{base_domain}` with it:\n")
    return header + yaml.safe_dump({"render": {"domains": {base_domain: domain}}}, sort_keys=False)


def plot_history(study: optuna.Study, out: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = optuna.visualization.matplotlib.plot_optimization_history(study, target_name="mIoU on target val")
    _save(ax.figure, out)


def plot_importances(values: dict[str, float], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 0.4 * max(3, len(values)) + 1))
    names = list(values)[::-1]
    ax.barh(names, [values[n] for n in names], color="#4c72b0")
    ax.set_xlabel("fANOVA importance")
    ax.set_title("render parameters: share of the variance in target mIoU")
    _save(fig, out)


def _save(fig, out: Path) -> None:
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def trial_rows(study: optuna.Study) -> list[dict]:
    return [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
             "duration_s": round(t.duration.total_seconds(), 2) if t.duration else None}
            for t in study.get_trials(deepcopy=False)]


def durations(study: optuna.Study) -> dict:
    """Wall time from the first trial's start to the last one's end, and the trials' summed time."""
    done = [t for t in study.trials if t.datetime_start and t.datetime_complete]
    if not done:
        return {"wall_s": 0.0, "trial_time_s": 0.0}
    wall = max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)
    return {"wall_s": round(wall.total_seconds(), 2),
            "trial_time_s": round(sum(t.duration.total_seconds() for t in done), 2)}


def run_search_report(setup: SearchSetup, out: str | Path) -> dict:
    """Write `search.json`, `best_params.yaml`, `best_look.json`, `history.png` and `importances.png`."""
    out = Path(out)
    study = open_study(setup)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise InputError(f"simsearch: study {study.study_name} has no complete trial (did the workers run?)")
    best = study.best_trial
    look = look_of(best.params, setup.search["space"], setup.render["base"])
    weights = importances(study)
    counts = {s.name.lower(): len(study.get_trials(deepcopy=False, states=(s,)))
              for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    summary = {"study": study.study_name, "trials": counts["complete"] + counts["pruned"], **counts,
               "best": {"number": best.number, "mIoU_val": round(best.value, 2), "params": best.params},
               "look": look, "importances": weights, "history": trial_rows(study),
               **durations(study)}
    plot_history(study, out / "history.png")
    plot_importances(weights or {"(needs 2 complete trials)": 0.0}, out / "importances.png")
    write_text(out / "best_params.yaml", override_yaml(setup.search["base"], look, summary["trials"], best.value))
    write_json(out / "best_look.json", look)
    write_json(out / "search.json", summary)
    return summary
