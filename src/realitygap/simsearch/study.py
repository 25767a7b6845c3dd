"""The Optuna study of the render search: storage, workers and the trial objective.

Each trial renders a training set with the trial's look (the base domain's scenes, so trials differ in
the look only), trains the primary model on a short budget and is scored by mIoU on the target domain's
*validation* split, reported every `report_interval` iterations to a median pruner.

The study lives in a journal file (or an RDB the user names) that several processes can share, so
workers run as separate Snakemake jobs, locally or on a cluster. A killed worker leaves its trial
RUNNING; the worker's next start marks it failed and queues its parameters again, so the study goes on
where it was. With one worker the study is deterministic: the sampler of the k-th trial is seeded by
k and the pruner compares with finished trials only."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from mmengine.hooks import Hook
from optuna.trial import TrialState

from realitygap.classes import dataset_classes
from realitygap.data import Sample, load_samples
from realitygap.seeding import derive_seed
from realitygap.renderers import render_look
from realitygap.simsearch.space import check_space, look_of, raw_params, suggest
from realitygap.runner import fit

log = logging.getLogger(__name__)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class SearchSetup:
    """Everything a trial needs: params `simsearch`, the base look and scene params, the short training."""

    search: dict          # params simsearch section
    render: dict          # {"size", "scene", "base": base domain's look}
    train: dict           # params train section (iters etc.; the search's budget is applied here)
    model: dict           # the primary model's params entry
    val: list[Sample]     # the target domain's validation samples
    seed: int
    root: Path            # results/simsearch: study journal and trial scratch folders
    device: str = "auto"

    def study_name(self) -> str:
        """Named by what defines the objective, so a changed space or budget starts a new study beside
        the old one, while more trials or workers continue it."""
        keys = ("space", "initial", "base", "target", "count", "iters", "report_interval", "renderer")
        definition = {"search": {k: self.search.get(k) for k in keys}, "render": self.render, "train": self.train,
                      "model": self.model, "seed": self.seed, "val": [s.id for s in self.val]}
        digest = hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode()).hexdigest()
        return f"simsearch-{digest[:12]}"


def search_setup(search: dict, render: dict, train: dict, model: dict, val_sources: list[dict], seed: int,
                 root: str | Path, device: str = "auto") -> SearchSetup:
    """A SearchSetup from the params slices the workflow passes; the validation samples must exist."""
    val = [s for src in val_sources for s in load_samples(src["dataset"], src["split"], "val")]
    if not val:
        raise ValueError(f"simsearch: no validation samples in {[src['dataset'] for src in val_sources]}")
    return SearchSetup(search, render, train, model, val, seed, Path(root), device)


def storage(setup: SearchSetup) -> optuna.storages.BaseStorage | str:
    """The user's RDB URL (`simsearch.storage`), or a journal file under the results folder."""
    if setup.search.get("storage"):
        return setup.search["storage"]
    from optuna.storages.journal import JournalFileBackend

    setup.root.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(setup.root / "study.journal")))


def open_study(setup: SearchSetup) -> optuna.Study:
    """Create the study, or load it when it exists (resuming a stopped search)."""
    pruner = optuna.pruners.MedianPruner(n_startup_trials=setup.search["pruner"]["startup_trials"],
                                         n_warmup_steps=setup.search["pruner"]["warmup_steps"])
    return optuna.create_study(study_name=setup.study_name(), storage=storage(setup), direction="maximize",
                               pruner=pruner, load_if_exists=True)


class PruningHook(Hook):
    """Reports each validation mIoU to the trial and stops training when the pruner says so."""

    priority = "LOW"

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.last: float | None = None

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        self.last = float(metrics["mIoU"])
        self.trial.report(self.last, step=runner.iter)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"median pruner stopped trial {self.trial.number} at iteration {runner.iter}")


def objective(trial: optuna.Trial, setup: SearchSetup) -> float:
    """Render the trial's training set, train on the short budget, return the last validation mIoU."""
    search = setup.search
    look = look_of(suggest(trial, search["space"]), search["space"], setup.render["base"])
    scratch = setup.root / "trials" / f"{trial.number:04d}"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        dataset = render_look(search["renderer"], setup.render, look, search["count"], search["base"], setup.seed,
                              scratch / "data", "trial")
        train = dict(setup.train, iters=search["iters"], checkpoint_interval=search["iters"])
        hook = PruningHook(trial)
        fit(setup.model, train, setup.render["size"], load_samples(dataset), setup.val, scratch / "work_dir",
            derive_seed(setup.seed, "simsearch", "train"), dataset_classes(dataset), setup.device, val_interval=search["report_interval"],
            hooks=(hook,), experiment=f"simsearch_trial{trial.number}")
        return hook.last
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def requeue_stale(study: optuna.Study, worker: int) -> list[int]:
    """Fail the trials a killed run of this worker left RUNNING and queue their parameters again."""
    stale = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
             if t.user_attrs.get("worker") == worker]
    for t in stale:
        study.tell(t.number, state=TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={"requeued_from": t.number})
        log.info("trial %d was interrupted; its parameters are queued again", t.number)
    return [t.number for t in stale]


def enqueue_initial(study: optuna.Study, setup: SearchSetup) -> None:
    """Queue the looks of `simsearch.initial` (e.g. the domain randomisation in use) as the first trials
    of a new study, so the search starts from what is known and can only improve on it."""
    if not study.get_trials(deepcopy=False):
        for look in setup.search.get("initial", []):
            study.enqueue_trial(raw_params(look, setup.search["space"]), user_attrs={"initial": True})


def run_worker(setup: SearchSetup, worker: int) -> dict:
    """Run trials until the study holds `simsearch.trials` finished or running ones; return a summary."""
    check_space(setup.search["space"], setup.search["renderer"]["type"] == "builtin")
    study = open_study(setup)
    if worker == 0:
        enqueue_initial(study, setup)
    requeued = requeue_stale(study, worker)
    ran, started = [], time.time()
    while True:
        finished = len(study.get_trials(deepcopy=False, states=FINISHED))
        running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        if finished + running >= setup.search["trials"]:
            break
        study.sampler = optuna.samplers.TPESampler(n_startup_trials=setup.search["startup_trials"],
                                                   seed=derive_seed(setup.seed, "simsearch", "sampler", finished))
        trial = study.ask()
        trial.set_user_attr("worker", worker)
        log.info("simsearch: trial %d (%d of %d finished)", trial.number, finished, setup.search["trials"])
        try:
            study.tell(trial, objective(trial, setup))
        except optuna.TrialPruned as pruned:
            log.info("%s", pruned)
            study.tell(trial, state=TrialState.PRUNED)
        except Exception:
            study.tell(trial, state=TrialState.FAIL)
            raise
        ran.append(trial.number)
    return {"worker": worker, "study": study.study_name, "trials_run": ran, "requeued": requeued,
            "elapsed_s": round(time.time() - started, 2)}
