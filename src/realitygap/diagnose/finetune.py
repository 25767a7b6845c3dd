"""Fine-tune evidence: what fixing one render factor in the source domain's training images would buy, without
retraining from scratch.

The transplant (`realitygap.diagnose.transplant`) asks the frozen models what a factor does to them; the question
the simulator team asks is what fixing it would change after training. The answer by training is expensive (a
model per factor, `bench/factor_truth.py`). A short fine-tuning of the frozen source model predicts it: the
model is fine-tuned for `iters` iterations on fresh source scenes rendered as the source looks, and again, from
the same weights on the same scenes and batches, with one factor as in the target look; both are scored on the
target domain's validation images (fresh scenes in the target look when it has none):

    gain(f) = mIoU_target(tuned on source look with f as in target) - mIoU_target(tuned on source look)

A positive gain says the target look's value of f teaches the model something the target needs. On the embedded
benchmark its ranking agreed with the retraining truth (Spearman 0.81 over 15 factors, two seeds,
`bench/finetune_probe.py`); it misses cues a short fine-tuning cannot learn (a texture the source never showed),
which the target model's reliance (the transplant) and the attribution evidence speak for. Intervals come from a
paired bootstrap over the scoring images.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from realitygap.classes import ClassSet
from realitygap.data import load_samples
from realitygap.diagnose.transplant import bootstrap_deltas, interval, pooled_miou, with_values_of
from realitygap.inference import predict_samples
from realitygap.progress import progress
from realitygap.renderers import render_look
from realitygap.runner import fit, initial_weights_hook, trained_net
from realitygap.segmentation_metrics import confusion_matrix
from realitygap.seeding import derive_seed
from realitygap.user_models import read_state_dict

RULE = ("gain = mIoU on the target's validation images (without a split: fresh target-look scenes) of the source "
        "model fine-tuned on source-look scenes with the factor "
        "as in the target look, minus the same fine-tuning (same weights, scenes and batches) with the source look; "
        "paired bootstrap 95 % intervals over the scoring images")


class FineTuner:
    """Fine-tunes the source model on one look at a time of the same scenes and scores it on the target look."""

    def __init__(self, weights: str, model: dict, train_cfg: dict, size: int, renderer: dict, render: dict,
                 classes: ClassSet, root: Path, device: str = "auto"):
        self.state, self.weights = read_state_dict(weights, False), str(weights)
        self.model, self.train_cfg, self.size = model, train_cfg, size
        self.renderer, self.render_params, self.classes = renderer, render, classes
        self.root, self.device = root, device
        self.runs = 0

    def render(self, look: dict, count: int, scenes: str, seed: int, name: str) -> list:
        """`count` labelled scenes of domain `scenes` rendered with `look` (the same scenes for the same seed)."""
        out = render_look(self.renderer, self.render_params, {"factors": look}, count, scenes, seed, self.root / name, scenes)
        return load_samples(out)

    def confusions(self, train: list, scoring: list, seed: int) -> np.ndarray:
        """Per-image confusions (N, C, C) on the samples `scoring` of the source model fine-tuned on `train`."""
        self.runs += 1
        work_dir = self.root / f"run{self.runs}"
        runner = fit(self.model, self.train_cfg, self.size, train, train[:4], work_dir, seed, self.classes,
                     self.device, hooks=(initial_weights_hook(self.state, self.weights),),
                     experiment=f"finetune{self.runs}")
        pred, truth = predict_samples(trained_net(runner).eval(), scoring, desc="score the fine-tuned model")
        return np.stack([confusion_matrix(p, t, len(self.classes), self.classes.ignore_index) for p, t in zip(pred, truth)])


def tuning_config(train_cfg: dict, cfg: dict) -> dict:
    """The training loop's params for one fine-tuning: the train section's loss, batch size and weight decay,
    the probe's iterations and learning rate, no checkpoint before the end."""
    return train_cfg | {"iters": int(cfg["iters"]), "lr": float(cfg["lr"]), "checkpoint_interval": int(cfg["iters"])}


def finetune_effects(weights: str, model: dict, train_cfg: dict, size: int, renderer: dict, render: dict,
                     looks: dict[str, dict], scenes: dict[str, str], factors: list[str], classes: ClassSet,
                     cfg: dict, seed: int, device: str = "auto", scoring: list | None = None) -> dict:
    """gain(f) for each factor that differs between `looks["source"]` and `looks["target"]`, highest first.
    `scenes`: {"source": domain, "target": domain} whose scenes are rendered; `cfg`: {count, iters, lr, bootstrap};
    `scoring`: the labelled target images to score on (e.g. its validation split), else fresh target-look scenes."""
    count, rng = int(cfg["count"]), np.random.default_rng(derive_seed(seed, "finetune bootstrap"))
    run_seed, scene_seed = derive_seed(seed, "finetune"), derive_seed(seed, "finetune scenes")
    with tempfile.TemporaryDirectory(prefix="finetune") as tmp:
        tuner = FineTuner(weights, model, tuning_config(train_cfg, cfg), size, renderer, render, classes, Path(tmp),
                          device)
        scoring = scoring or tuner.render(looks["target"], count, scenes["target"], derive_seed(seed, "finetune scoring"),
                                          "scoring")
        control = tuner.confusions(tuner.render(looks["source"], count, scenes["source"], scene_seed, "control"),
                                   scoring, run_seed)
        rows = []
        for factor in progress(factors, desc="fine-tune per factor"):
            look = with_values_of(looks["source"], looks["target"], (factor,))
            variant = tuner.confusions(tuner.render(look, count, scenes["source"], scene_seed, factor), scoring, run_seed)
            gain = bootstrap_deltas(variant, control, int(cfg["bootstrap"]), rng)
            rows.append({"factors": [factor], "gain_points": round(float(pooled_miou(variant) - pooled_miou(control)), 2),
                         "gain_ci": interval(gain)})
    return {"rule": RULE, "images": count, "scoring_images": len(scoring), "iters": int(cfg["iters"]),
            "lr": float(cfg["lr"]), "control_miou": round(pooled_miou(control), 2),
            "factors": sorted(rows, key=lambda r: -r["gain_points"])}
