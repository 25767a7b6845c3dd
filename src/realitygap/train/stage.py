"""`realitygap train`: train one model on one training mix with mmengine's Runner.

Checkpoints go to `<out>/work_dir` every `checkpoint_interval` iterations; a rerun after an
interruption resumes from the last one and ends with the same weights as an uninterrupted run. The
final weights are written atomically to `<out>/model.pth`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from realitygap.classes import common_classes
from realitygap.data import load_samples, source_samples
from realitygap.io import write_json
from realitygap.models import save_weights
from realitygap.runner import claim_work_dir, fit, run_fingerprint, trained_net, training_loss
from realitygap.seeding import derive_seed


def run_train(sources: list[dict], val_sources: list[dict], model: dict, cfg: dict, size: int, seed: int, out: str | os.PathLike,
              mix: str = "mix", name: str = "model", device: str = "auto") -> dict:
    """Train `model` on the samples of `sources` and write `<out>/model.pth` and `<out>/train.json`.

    Each source is `{"dataset": dir, "split": split json or null, "fraction": f}`; the validation set
    is the `val` split of `val_sources`, or of the sources that have a split file when none are given.
    """
    run_seed = derive_seed(seed, "train", mix, name)
    train = source_samples(sources, seed)
    val = [s for src in (val_sources or sources) if src.get("split")
           for s in load_samples(src["dataset"], src["split"], "val")]
    if not train:
        raise ValueError(f"train: mix {mix!r} has no training samples")
    classes = common_classes([src["dataset"] for src in sources + val_sources])
    out = Path(out)
    work_dir = out / "work_dir"
    claim_work_dir(work_dir, run_fingerprint(sources, val_sources, model, cfg, size, run_seed))
    started = time.time()
    runner = fit(model, cfg, size, train, val or train[:8], work_dir, run_seed, classes, device)
    elapsed = time.time() - started
    save_weights(trained_net(runner), out / "model.pth")
    val_scores = {key[len("val/"):]: float(buf.current()) for key, buf in runner.message_hub.log_scalars.items()
                  if key.startswith("val/") and not key.endswith("time")}     # scores, not the loop's timings
    loss, class_weights = training_loss(model, cfg, train, classes)
    summary = {"mix": mix, "name": name, "model": model, "classes": list(classes.names), "loss": loss,
               "class_weights": class_weights,
               "train_samples": len(train), "val_samples": len(val),
               "iters": cfg["iters"], "elapsed_s": round(elapsed, 2), "seed": run_seed, "val": val_scores}
    write_json(out / "train.json", summary)
    logging.getLogger(__name__).info("trained %s on %s in %.1fs", name, mix, elapsed)
    return summary
