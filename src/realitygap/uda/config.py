"""The mmengine config of a self-training run: a supervised run's config (`realitygap.runner.runner_config`)
with its model wrapped in `MeanTeacher` and its train dataloader over (source, target) pairs. The target
pipeline loads no annotations: the target's masks are never read."""

from __future__ import annotations

from realitygap.classes import ClassSet
from realitygap.data import Sample
from realitygap.runner import resize_steps

TEACHER_KEYS = ("alpha", "pseudo_threshold", "pseudo_weight", "align", "classmix", "strong", "mic")


def uda_runner_config(config: dict, uda: dict, source: list[Sample], target: list[Sample], classes: ClassSet,
                      resize: dict | None = None) -> dict:
    """`config` (a supervised run's) adapted to self-train on `source` (labelled) and `target` (unlabeled) with
    the `uda` params: {alpha, pseudo_threshold, pseudo_weight, align, classmix, keep_out (class names), strong,
    mic}."""
    keep_out = tuple(classes.index(name) for name in uda.get("keep_out", ()))
    model = dict(type="MeanTeacher", segmentor=config["model"], keep_out=keep_out,
                 **{k: uda[k] for k in TEACHER_KEYS if k in uda})
    loader = config["train_dataloader"]
    crop = resize_steps(source + target, resize)          # one size for both, so ClassMix can paste
    flip = [dict(type="RandomFlip", prob=0.5), dict(type="PackSegInputs")]
    inner = loader["dataset"]
    source_set = inner | dict(pipeline=[dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"), *crop, *flip])
    target_set = inner | dict(pipeline=[dict(type="LoadImageFromFile"), *crop, *flip],
                              samples=[dict(image=str(s.image), mask=None) for s in target])
    return config | dict(model=model, train_dataloader=loader | dict(
        dataset=dict(type="UDAPairDataset", source=source_set, target=target_set)))
