"""`realitygap instances train`: train one mmdet Mask R-CNN on one training mix with one box-head
classification loss, through mmengine's Runner (resumes after an interruption, as the semantic
`train` does). SGD with a linear warm-up and step decay: mmdet's 1x schedule, scaled to `iters`.

A user's detector (`instance/model: {config, checkpoint, frozen_mix}`) is the model of its `frozen_mix` as it
is (checked and copied, no training), and every other mix fine-tunes from its checkpoint (the box head's class
scores start fresh when the run's loss gives them another shape)."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from pathlib import Path

from realitygap.detection.data import instance_samples
from realitygap.detection_losses import classification_loss
from realitygap.detectors import build_detector, detector_config
from realitygap.io import InputError, write_json
from realitygap.models import load_weights, save_weights
from realitygap.seeding import derive_seed
from realitygap.user_models import is_user_model, read_state_dict
from realitygap.runner import (claim_work_dir, initial_weights_hook, load_fitting, loop_config, run_fingerprint,
                               run_runner, trained_net)


def category_counts(samples: list[dict], categories: list[str]) -> list[int]:
    """Training instances per category, in `categories` order."""
    counts = Counter(a["category"] for s in samples for a in s["annotations"])
    return [counts[c] for c in categories]


def box_loss(loss: str, train: list[dict], categories: list[str]) -> dict:
    """The box head's classification loss config for the training instances (an absent category counts as one)."""
    return classification_loss(loss, [max(1, n) for n in category_counts(train, categories)])


def _dataloader(samples: list[dict], categories: list[str], batch_size: int) -> dict:
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
                dict(type="RandomFlip", prob=0.5), dict(type="PackDetInputs")]
    return dict(batch_size=batch_size, num_workers=0, persistent_workers=False,
                sampler=dict(type="InfiniteSampler", shuffle=True),
                dataset=dict(type="RealityGapInstances", samples=samples, categories=categories,
                             pipeline=pipeline, filter_cfg=dict(filter_empty_gt=True)))


def optimizer(cfg: dict) -> dict:
    """SGD with momentum (mmdet's schedules), or AdamW (faster from scratch on a short CPU budget)."""
    if cfg.get("optimizer", "sgd") == "adamw":
        return dict(type="AdamW", lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    return dict(type="SGD", lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])


def detector_runner_config(model: dict, loss_cls: dict, cfg: dict, categories: list[str], train: list[dict],
                           work_dir: Path, seed: int) -> dict:
    """The full mmengine config of one Mask R-CNN training run with the box head's `loss_cls` (no validation
    loop: `score` evaluates)."""
    iters = cfg["iters"]
    config = loop_config(cfg, work_dir, seed) | dict(
        default_scope="mmdet",
        model=detector_config(model, len(categories), loss_cls),
        train_dataloader=_dataloader(train, categories, cfg["batch_size"]),
        optim_wrapper=dict(type="OptimWrapper", optimizer=optimizer(cfg)),
        param_scheduler=[
            dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=min(cfg["warmup_iters"], iters)),
            dict(type="MultiStepLR", by_epoch=False, begin=0, end=iters, gamma=0.1,
                 milestones=[round(f * iters) for f in cfg["milestones"]])],
    )
    config["train_cfg"]["val_interval"] = iters + 1                       # no validation loop
    return config


def run_train_instances(sources: list[dict], model: dict, loss: str, cfg: dict, categories: list[str], seed: int,
                        out: str | os.PathLike, mix: str = "mix", device: str = "auto") -> dict:
    """Train Mask R-CNN on the `train` split of `sources` and write `<out>/model.pth` and `<out>/train.json`."""
    from mmdet.utils import register_all_modules

    import realitygap.detection.data  # noqa: F401  (registers RealityGapInstances)
    import realitygap.detection_losses  # noqa: F401  (registers LDAMLoss)

    run_seed = derive_seed(seed, "train_instances", mix, loss)
    train = instance_samples(sources, seed)
    if not any(s["annotations"] for s in train):
        raise InputError(f"instances train: mix {mix!r} has no annotated instances in its training images")
    out = Path(out)
    if model.get("frozen_mix") == mix:
        return import_detector(model, categories, mix, out)
    work_dir = out / "work_dir"
    register_all_modules(init_default_scope=False)
    loss_cls = box_loss(loss, train, categories)
    hooks = _fine_tuning(model, categories, loss_cls)
    claim_work_dir(work_dir, run_fingerprint(sources, [], dict(model, loss=loss, categories=categories), cfg, 0,
                                             run_seed))
    started = time.time()
    # contiguous NCHW features: mmcv's CPU RoIAlign reads channels-last ones wrongly (see detectors.detect)
    runner = run_runner(detector_runner_config(model, loss_cls, cfg, categories, train, work_dir, run_seed), device,
                        hooks=hooks, channels_last=False)
    elapsed = time.time() - started
    save_weights(trained_net(runner), out / "model.pth")
    summary = {"mix": mix, "loss": loss, "loss_cls": loss_cls, "model": model, "categories": categories,
               "instances_per_category": dict(zip(categories, category_counts(train, categories))),
               "train_images": len(train), "iters": cfg["iters"], "batch_size": cfg["batch_size"],
               "elapsed_s": round(elapsed, 2), "seed": run_seed}
    write_json(out / "train.json", summary)
    logging.getLogger(__name__).info("trained Mask R-CNN (%s loss) on %s in %.1fs", loss, mix, elapsed)
    return summary


def _fine_tuning(model: dict, categories: list[str], loss_cls: dict) -> tuple:
    """The hook that starts training from the model entry's checkpoint, if it names one; the detector and the
    checkpoint are checked here, before anything is written."""
    if not is_user_model(model):
        return ()
    net = build_detector(model, len(categories), loss_cls)
    if not model.get("checkpoint"):
        return ()
    state = read_state_dict(model["checkpoint"], model.get("trust_checkpoint", False))
    reinit = ("roi_head.bbox_head.fc_cls", "roi_head.bbox_head.loss_cls")   # shaped by the run's loss
    load_fitting(net, state, model["checkpoint"], reinit)
    return (initial_weights_hook(state, model["checkpoint"], reinit),)


def import_detector(model: dict, categories: list[str], mix: str, out: Path) -> dict:
    """A user's frozen detector as the model of `mix`: built from its config with its own box-head loss, its
    checkpoint loaded (a file that does not fit fails here, naming itself) and written as `<out>/model.pth`."""
    net = load_weights(lambda: build_detector(model, len(categories)), model["checkpoint"], "cpu",
                       "the instance model entry's checkpoint", trust=model.get("trust_checkpoint", False))
    save_weights(net, out / "model.pth")
    summary = {"mix": mix, "loss": None, "loss_cls": None, "model": model, "categories": categories, "frozen": True,
               "iters": 0, "checkpoint": str(model["checkpoint"])}
    write_json(out / "train.json", summary)
    return summary
