"""`realitygap train`: train one model on one training mix with mmengine's Runner.

Checkpoints go to `<out>/work_dir` every `checkpoint_interval` iterations; a rerun after an
interruption resumes from the last one and ends with the same weights as an uninterrupted run; a finished
run deletes them (`runner.release_checkpoints`). The final weights are written atomically to
`<out>/model.pth`. With `uda` params the run self-trains a mean teacher on the sources and the unlabeled train
images of `target` (`realitygap.uda`), and the student's weights are the model.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from realitygap.classes import common_classes
from realitygap.data import load_samples, source_samples
from realitygap.io import write_json
from realitygap.models import build_model, load_weights, save_weights
from realitygap.runner import claim_work_dir, fit, initial_weights_hook, run_fingerprint, trained_net, training_loss
from realitygap.seeding import derive_seed
from realitygap.uda import uda_runner_config
from realitygap.user_models import read_state_dict


def run_train(sources: list[dict], val_sources: list[dict], model: dict, cfg: dict, size: int, seed: int, out: str | os.PathLike,
              mix: str = "mix", name: str = "model", device: str = "auto", target: list[dict] | None = None,
              uda: dict | None = None, start: str | None = None) -> dict:
    """Train `model` on the samples of `sources` and write `<out>/model.pth` and `<out>/train.json`.

    Each source is `{"dataset": dir, "split": split json or null, "fraction": f}`; the validation set
    is the `val` split of `val_sources`, or of the sources that have a split file when none are given.
    `uda` self-trains on the unlabeled `train` images of the `target` sources too; `start` is a model.pth the
    run starts from (else the model entry's checkpoint, if any).
    """
    run_seed = derive_seed(seed, "train", mix, name)
    train = source_samples(sources, seed)
    val = [s for src in (val_sources or sources) if src.get("split")
           for s in load_samples(src["dataset"], src["split"], "val")]
    if not train:
        raise ValueError(f"train: mix {mix!r} has no training samples")
    classes = common_classes([src["dataset"] for src in sources + val_sources])
    out = Path(out)
    if model.get("frozen_mix") == mix:
        return import_checkpoint(model, size, mix, name, classes.names, out)
    work_dir = out / "work_dir"
    unlabeled = source_samples(target, seed) if uda else []
    if uda and uda.get("loss"):
        model = model | {"loss": uda["loss"]}       # the student's source loss
    claim_work_dir(work_dir, run_fingerprint(sources + (target or []), val_sources, model | {"uda": uda, "start": start},
                                             cfg, size, run_seed))
    started = time.time()
    adapt = (lambda config: uda_runner_config(config, uda, train, unlabeled, classes, cfg.get("resize"))) if uda else None
    runner = fit(model, cfg, size, train, val or train[:8], work_dir, run_seed, classes, device,
                 hooks=start_hooks(model, start), adapt=adapt)
    elapsed = time.time() - started
    net = trained_net(runner)
    save_weights(getattr(net, "student", net), out / "model.pth")
    val_scores = {key[len("val/"):]: float(buf.current()) for key, buf in runner.message_hub.log_scalars.items()
                  if key.startswith("val/") and not key.endswith("time")}     # scores, not the loop's timings
    loss, class_weights = training_loss(model, cfg, train, classes)
    summary = {"mix": mix, "name": name, "model": model, "classes": list(classes.names), "loss": loss,
               "class_weights": class_weights,
               "train_samples": len(train), "val_samples": len(val),
               "iters": cfg["iters"], "elapsed_s": round(elapsed, 2), "seed": run_seed, "val": val_scores}
    if uda:
        summary |= {"uda": uda, "target_samples": len(unlabeled), "start": start}
    write_json(out / "train.json", summary)
    logging.getLogger(__name__).info("trained %s on %s in %.1fs", name, mix, elapsed)
    return summary


def start_hooks(model: dict, start: str | None) -> tuple:
    """The hook that starts the run from `start` (a model.pth of ours) or the model entry's checkpoint."""
    if start:
        return (initial_weights_hook(read_state_dict(start, False), start),)
    if model.get("checkpoint"):
        return (initial_weights_hook(read_state_dict(model["checkpoint"], model.get("trust_checkpoint", False)),
                                     model["checkpoint"]),)
    return ()


def import_checkpoint(model: dict, size: int, mix: str, name: str, classes: tuple[str, ...], out: Path) -> dict:
    """A user's frozen model as the model of `mix`: built from its config, its checkpoint loaded (so a file that
    does not fit fails here, naming itself) and written as `<out>/model.pth`, with `train.json`."""
    net = load_weights(lambda: build_model(model, size), model["checkpoint"], "cpu", "the model entry's checkpoint",
                       trust=model.get("trust_checkpoint", False))
    save_weights(net, out / "model.pth")
    summary = {"mix": mix, "name": name, "model": model, "classes": list(classes), "frozen": True, "iters": 0,
               "checkpoint": str(model["checkpoint"])}
    write_json(out / "train.json", summary)
    return summary
