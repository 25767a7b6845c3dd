"""mmengine Runner helpers every training shares (semantic models, Mask R-CNN, the pseudo-label nets, the
render search's trials): dataloader and loop configs, a seeded, resumable Runner, and the work-dir claim
that keeps a run's checkpoints to the run that wrote them."""

from __future__ import annotations

import hashlib
import logging
import json
import os
import shutil
from pathlib import Path

import torch

from realitygap.classes import ClassSet
from realitygap.data import Sample
from realitygap.io import InputError, read_mask, write_json
from realitygap.losses import frequency_weights, needs_frequencies
from realitygap.models import model_config, resolve_device


def image_sizes(samples: list[Sample]) -> dict[tuple[int, int], int]:
    """How many of `samples`' images have each (width, height), read from the file headers."""
    from PIL import Image

    sizes: dict[tuple[int, int], int] = {}
    for s in samples:
        with Image.open(s.image) as img:
            sizes[img.size] = sizes.get(img.size, 0) + 1
    return sizes


def resize_steps(samples: list[Sample], resize: dict | None) -> list[dict]:
    """mmseg's RandomResize + RandomCrop for `resize` ({scale [w, h], ratio_range, crop [h, w]}); without it
    the images must share one size (a batch stacks them), else an InputError says which sizes and what to set."""
    if resize is None:
        sizes = image_sizes(samples)
        if len(sizes) > 1:
            listed = ", ".join(f"{w}x{h} ({n} images)" for (w, h), n in sorted(sizes.items()))
            raise InputError(f"train: the training images have {len(sizes)} sizes ({listed}); set train/resize "
                             "({scale: [w, h], ratio_range, crop: [h, w]}) to resize and crop them to one size")
        return []
    return [dict(type="RandomResize", scale=tuple(resize["scale"]), ratio_range=tuple(resize["ratio_range"]),
                 keep_ratio=True),
            dict(type="RandomCrop", crop_size=tuple(resize["crop"]), cat_max_ratio=1.0)]


def dataloader_config(samples: list[Sample], batch_size: int, train: bool, classes: ClassSet,
                      resize: dict | None = None) -> dict:
    """An mmengine dataloader over `samples` of the class set `classes`: shuffled, endless, resized and cropped
    (`resize_steps`) and flipped when `train`."""
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")]
    if train:
        pipeline += resize_steps(samples, resize)
        pipeline.append(dict(type="RandomFlip", prob=0.5))
    pipeline.append(dict(type="PackSegInputs"))
    return dict(
        batch_size=batch_size if train else 1, num_workers=0, persistent_workers=False,
        sampler=dict(type="InfiniteSampler" if train else "DefaultSampler", shuffle=train),
        dataset=dict(type="RealityGapDataset", pipeline=pipeline,
                     metainfo=dict(classes=classes.names, palette=[list(c) for c in classes.palette]),
                     samples=[dict(image=str(s.image), mask=str(s.mask)) for s in samples]))


def training_loss(model: dict, cfg: dict, train: list[Sample], classes: ClassSet) -> tuple[str | list, list[float] | None]:
    """The run's loss (the model entry's own, else the train params') and, when a term asks for them, the
    class weights from the training masks' pixel frequencies."""
    loss = model.get("loss", cfg["loss"])
    if not needs_frequencies(loss):
        return loss, None
    return loss, frequency_weights((read_mask(s.mask) for s in train), len(classes), classes.ignore_index)


def loop_config(cfg: dict, work_dir: Path, seed: int) -> dict:
    """The parts of an mmengine config every training run shares: an iteration-based loop of
    `cfg["iters"]`, checkpoints every `cfg["checkpoint_interval"]`, resuming, seeded determinism."""
    iters = cfg["iters"]
    return dict(
        work_dir=str(work_dir),
        train_cfg=dict(type="IterBasedTrainLoop", max_iters=iters, val_interval=iters),
        default_hooks=dict(
            timer=dict(type="IterTimerHook"),
            logger=dict(type="LoggerHook", interval=max(1, min(50, iters // 10)), log_metric_by_epoch=False),
            param_scheduler=dict(type="ParamSchedulerHook"),
            checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=cfg["checkpoint_interval"],
                            max_keep_ckpts=1, save_last=True),
            sampler_seed=dict(type="DistSamplerSeedHook")),
        custom_hooks=[dict(type="TorchRngStateHook")],
        log_processor=dict(by_epoch=False),
        env_cfg=dict(cudnn_benchmark=False, dist_cfg=dict(backend="nccl")),
        randomness=dict(seed=seed, deterministic=True),
        log_level="INFO",
        resume=True,
    )


def runner_config(model: dict, cfg: dict, size: int, train: list[Sample], val: list[Sample],
                  work_dir: Path, seed: int, classes: ClassSet) -> dict:
    """The full mmengine config of one training run on data of the class set `classes`."""
    iters = cfg["iters"]
    if model["num_classes"] != len(classes):
        raise InputError(f"model entry {model}: {model['num_classes']} outputs, the data has {len(classes)} classes "
                         f"{list(classes.names)}")
    return loop_config(cfg, work_dir, seed) | dict(
        default_scope="mmseg",
        model=model_config(model, size, *training_loss(model, cfg, train, classes)),
        train_dataloader=dataloader_config(train, cfg["batch_size"], True, classes, cfg.get("resize")),
        val_dataloader=dataloader_config(val, 1, False, classes),
        val_evaluator=dict(type="IoUMetric", iou_metrics=["mIoU", "mDice"]),
        val_cfg=dict(type="ValLoop"),
        optim_wrapper=dict(type="OptimWrapper", optimizer=dict(
            type="AdamW", lr=cfg["lr"], weight_decay=cfg["weight_decay"])),
        param_scheduler=[dict(type="PolyLR", eta_min=cfg["lr"] * 0.01, power=0.9, begin=0, end=iters,
                              by_epoch=False)],
    )


def run_runner(config: dict, device: str = "auto", hooks: tuple = (), channels_last: bool = True):
    """Build mmengine's Runner from a full config (its registries' modules already imported), train it,
    release its checkpoints and return it; `hooks` are extra Hook objects."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    import realitygap.resume  # noqa: F401  (registers TorchRngStateHook)

    if resolve_device(device).type == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    # Our own checkpoints hold optimizer and message-hub state that torch's weights_only loader refuses.
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    runner = Runner.from_cfg(Config(externalise_samples(config, Path(config["work_dir"]))))
    for hook in hooks:
        runner.register_hook(hook)
    if channels_last:     # convolutions run 1.3x faster on the CPU (bench/train_step.py)
        runner.model.to(memory_format=torch.channels_last)
    runner.train()
    release_checkpoints(Path(config["work_dir"]))
    return runner


def release_checkpoints(work_dir: Path) -> None:
    """Delete a finished run's resumable checkpoints (weights plus optimizer state, three times the size of
    its model): they only serve a run cut short. Logs, scalars and the config stay."""
    for path in [*work_dir.glob("*.pth"), work_dir / "last_checkpoint"]:
        path.unlink(missing_ok=True)


def externalise_samples(config: dict, work_dir: Path) -> dict:
    """`config` with every dataset's `samples` list written to `work_dir/samples/<k>.json` and named by its path
    (our dataset classes read either). mmengine logs and dumps the whole config through yapf, which took
    seconds per run for a list of a few hundred images (issue 29)."""
    count = iter(range(1_000_000))

    def walk(node):
        if isinstance(node, dict):
            out = {key: walk(value) for key, value in node.items()}
            if isinstance(out.get("samples"), list):
                path = work_dir / "samples" / f"{next(count)}.json"
                write_json(path, out["samples"])
                out["samples"] = str(path)
            return out
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    return walk(config)


def initial_weights_hook(state: dict, source: str = "checkpoint", reinit: tuple[str, ...] = ()):
    """An mmengine hook that starts a fresh run (not a resumed one) from the weights `state` (read from the file
    `source`): fine-tuning from a user's checkpoint, see `load_fitting`. It acts before the first iteration,
    after mmengine's own weight init and resume."""
    from mmengine.hooks import Hook

    class InitialWeights(Hook):
        priority = "VERY_HIGH"

        def before_train(self, runner) -> None:
            if runner.iter == 0:       # a mean teacher's student (its teacher copies it at the first step)
                net = trained_net(runner)
                load_fitting(getattr(net, "student", net), state, source, reinit)
    return InitialWeights()


def load_fitting(net: torch.nn.Module, state: dict, source: str, reinit: tuple[str, ...] = ()) -> None:
    """Load `state` into `net`, except weights under a prefix in `reinit` that the network lacks or has in another
    shape: they keep their fresh init (a layer or a loss buffer that the run's loss shapes otherwise). Any other
    misfit is an InputError naming the file `source`."""
    own = net.state_dict()
    fresh = {k for k, v in state.items() if k.startswith(reinit) and (k not in own or own[k].shape != v.shape)}
    try:
        missing, unexpected = net.load_state_dict({k: v for k, v in state.items() if k not in fresh}, strict=False)
    except RuntimeError as err:
        raise InputError(f"{source}: the weights do not fit the model ({' '.join(str(err).split()[:14])} ...)") from err
    missing = [k for k in missing if not k.startswith(reinit)]
    if unexpected or missing:
        raise InputError(f"{source}: the weights do not fit the model (missing: {sorted(missing)[:3]}, "
                         f"unexpected: {sorted(unexpected)[:3]})")
    if fresh:
        logging.getLogger(__name__).info("fine-tuning from %s: %s start fresh", source, ", ".join(sorted(fresh)))


def trained_net(runner) -> torch.nn.Module:
    """The Runner's model, unwrapped from a distributed wrapper if there is one."""
    return runner.model.module if hasattr(runner.model, "module") else runner.model


def fit(model: dict, cfg: dict, size: int, train: list[Sample], val: list[Sample], work_dir: Path, seed: int,
        classes: ClassSet, device: str = "auto", val_interval: int | None = None, hooks: tuple = (), experiment: str | None = None,
        adapt=None):
    """Build mmengine's Runner for one training run, train it and return it. `val_interval` validates
    more often than once at the end; `hooks` are extra Hook objects (e.g. a pruning hook); `experiment`
    names the run, so several runs in one process keep apart mmengine's per-run logger and message hub;
    `adapt(config)` returns the config to run instead (a self-training run's)."""
    from mmseg.utils import register_all_modules

    import realitygap.architectures  # noqa: F401  (registers ConfigurableEncoderDecoder)
    import realitygap.mmseg_losses  # noqa: F401  (registers IgnoreAwareCrossEntropyLoss)
    import realitygap.seg_dataset  # noqa: F401  (registers RealityGapDataset)

    register_all_modules(init_default_scope=False)
    config = runner_config(model, cfg, size, train, val, work_dir, seed, classes)
    if val_interval:
        config["train_cfg"]["val_interval"] = val_interval
    if experiment:
        config["experiment_name"] = experiment
    return run_runner(adapt(config) if adapt else config, device, hooks)


def run_fingerprint(sources: list[dict], val_sources: list[dict], model: dict, cfg: dict, size: int, seed: int) -> str:
    """A hash of everything a training run depends on: its params, and the manifests and split files of its
    data (a re-rendered dataset keeps its sample ids but not its manifest)."""
    files = sorted({str(Path(src["dataset"]) / "manifest.json") for src in sources + val_sources}
                   | {src["split"] for src in sources + val_sources if src.get("split")}
                   | {model[key] for key in ("config", "checkpoint") if model.get(key)})      # a user's model
    digest = hashlib.sha256(json.dumps([sources, val_sources, model, cfg, size, seed], sort_keys=True).encode())
    for name in files:
        digest.update(Path(name).read_bytes())
    return digest.hexdigest()


def claim_work_dir(work_dir: Path, fingerprint: str) -> None:
    """Keep `work_dir`'s checkpoints only for the run that wrote them: a run with other params or data
    starts afresh instead of resuming (mmengine would resume any last checkpoint it finds)."""
    stamp = work_dir / "fingerprint.txt"
    if work_dir.exists() and (not stamp.is_file() or stamp.read_text() != fingerprint):
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
