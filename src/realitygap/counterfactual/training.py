"""Training of the counterfactual map generator against a frozen model, and the judging of its maps.

Losses (weights in params, `weights`):
- target: the analysed model's own loss of f(x') toward the target labels t (the frozen model's
  `objective`); for a segmentation model the pixel cross-entropy, averaged separately over the pixels
  the target changes and over the rest, so a small region counts as much as the unchanged image around
  it (a detector brings its own: `realitygap.counterfactual.instances`);
- adversarial: least-squares GAN, D tells the `references` (images of the same look) from x';
- cycle: G(x', the model's original answer) applied to x' must return x (L1);
- l1, l2: sparsity of M, mean |M| and root-mean-square M per image.
The model's weights never change: it is frozen while G and D train."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from realitygap.counterfactual.generator import MapGenerator, PatchDiscriminator
from realitygap.models import MEAN, STD
from realitygap.progress import progress

DEFAULTS = {"iters": 300, "batch_size": 8, "lr": 0.002, "width": 32, "max_change": 1.5,
            "weights": {"target": 1.0, "adversarial": 0.02, "cycle": 0.2, "l1": 0.5, "l2": 0.5}}
"""The generator's training options: the one table every counterfactual (explain methods, augmentation
policies) starts from; each overrides what it measured to need (`generator_options`)."""


def generator_options(**overrides) -> dict:
    """DEFAULTS with `overrides` (a `weights` override changes only the weights it names)."""
    weights = {**DEFAULTS["weights"], **overrides.pop("weights", {})}
    return {**DEFAULTS, **overrides, "weights": weights}


@dataclass
class Task:
    """K counterfactuals to make: the image each starts from (index), its target labels t (K, H, W),
    the pixels judged for the flip (K, H, W) and the model's original answer (K, H, W)."""

    image: torch.Tensor
    target: torch.Tensor
    region: torch.Tensor
    original: torch.Tensor


Objective = Callable[[object, torch.Tensor, torch.Tensor], torch.Tensor]
"""The model's loss toward a target: (its output on x', target labels (K, H, W), region (K, H, W)) -> scalar."""


class FrozenModel:
    """The analysed model f: `forward(x)` gives its differentiable output and the features G reads;
    `objective` is its loss toward a target (default: the segmentation `target_loss` on logits)."""

    def __init__(self, net: nn.Module, forward: Callable[[torch.Tensor], tuple[object, torch.Tensor]],
                 objective: Objective | None = None) -> None:
        self.net, self.forward = net, forward
        self.objective = objective or target_loss

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward(x)

    @contextmanager
    def frozen(self):
        """Weights without gradients while G trains; their previous flags come back afterwards."""
        flags = [(p, p.requires_grad) for p in self.net.parameters()]
        for p, _ in flags:
            p.requires_grad_(False)
        try:
            yield self
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)


def pixel_bounds(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised values of pixel 0 and 255 per channel, shaped (1, 3, 1, 1)."""
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (0 - mean) / std, (255 - mean) / std


def apply_map(x: torch.Tensor, change: torch.Tensor) -> torch.Tensor:
    """x + M kept inside the valid pixel range."""
    lo, hi = pixel_bounds(x)
    return torch.maximum(torch.minimum(x + change, hi), lo)


def to_pixels(change: torch.Tensor) -> torch.Tensor:
    """A map in normalised units (K, 3, H, W) in grey levels (0-255 scale)."""
    return change * torch.tensor(STD, device=change.device).view(1, 3, 1, 1)


def scaled_copy(image: np.ndarray, change: np.ndarray, min_strength: float, seed: int) -> np.ndarray:
    """A uint8 image (H, W, 3) plus its map in grey levels (H, W, 3) scaled by a strength drawn from
    [`min_strength`, 1] with `seed`: one augmented copy of a counterfactual."""
    strength = np.random.default_rng(seed).uniform(float(min_strength), 1.0)
    moved = image.astype(np.float32) + strength * change
    return np.clip(moved + 0.5, 0, 255).astype(np.uint8)


def target_loss(logits: torch.Tensor, target: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Cross-entropy toward `target`: mean over `region` plus mean over the other pixels."""
    ce = F.cross_entropy(logits, target, reduction="none")
    inside = region.to(ce.dtype)
    return ((ce * inside).sum() / inside.sum().clamp(min=1)
            + (ce * (1 - inside)).sum() / (1 - inside).sum().clamp(min=1))


def map_loss(change: torch.Tensor, l1: float, l2: float) -> torch.Tensor:
    """l1 * mean |M| + l2 * per-image root-mean-square M (averaged over the batch)."""
    return l1 * change.abs().mean() + l2 * change.pow(2).flatten(1).mean(1).add(1e-12).sqrt().mean()


def generator_step(model: FrozenModel, gen: MapGenerator, disc: PatchDiscriminator, x: torch.Tensor,
                   target: torch.Tensor, region: torch.Tensor, original: torch.Tensor,
                   weights: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """G's loss on one batch, and the counterfactuals x' (for D's step)."""
    with torch.no_grad():
        _, feats = model(x)
    change = gen(x, feats, target)
    moved = apply_map(x, change)
    output, moved_feats = model(moved)
    back = apply_map(moved, gen(moved, moved_feats.detach(), original))
    loss = (weights["target"] * model.objective(output, target, region)
            + weights["adversarial"] * (disc(moved) - 1).pow(2).mean()
            + weights["cycle"] * (back - x).abs().mean()
            + map_loss(change, weights["l1"], weights["l2"]))
    return loss, moved


def train_generator(model: FrozenModel, images: torch.Tensor, task: Task, references: torch.Tensor,
                    num_classes: int, cfg: dict, seed: int = 0) -> MapGenerator:
    """Train G (and D on `references`, normalised images) for `cfg["iters"]` batches of the task's rows."""
    cfg = {**DEFAULTS, **cfg, "weights": {**DEFAULTS["weights"], **cfg.get("weights", {})}}
    device = images.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        with torch.no_grad():
            channels = model(images[:1])[1].shape[1]
        gen = MapGenerator(channels, num_classes, cfg["width"], cfg["max_change"]).to(device)
        disc = PatchDiscriminator(cfg["width"]).to(device)
        opt_g = torch.optim.Adam(gen.parameters(), lr=cfg["lr"], betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=cfg["lr"], betas=(0.5, 0.999))
        rows = len(task.image)
        with model.frozen(), torch.enable_grad():
            for _ in progress(range(cfg["iters"]), desc="counterfactual generator"):
                pick = torch.randint(0, rows, (min(cfg["batch_size"], rows),), device=device)
                loss, moved = generator_step(model, gen, disc, images[task.image[pick]], task.target[pick],
                                             task.region[pick], task.original[pick], cfg["weights"])
                opt_g.zero_grad()
                loss.backward()
                opt_g.step()
                refs = references[torch.randint(0, len(references), (len(pick),), device=device)]
                d_loss = (disc(refs) - 1).pow(2).mean() + disc(moved.detach()).pow(2).mean()
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
    return gen.eval()


Judge = Callable[["FrozenModel", torch.Tensor, "Task", torch.Tensor], dict]
"""Whether each map of a task did its job: (model, images, task, maps) -> per-row verdicts."""


def fit(model: FrozenModel, images: torch.Tensor, task: Task, references: torch.Tensor, num_classes: int,
        cfg: dict, seed: int, judge_maps: Judge, batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """The counterfactual pipeline every caller runs: train G against the frozen model on the task (its
    options from `cfg`, defaults DEFAULTS), make the maps and judge them. Returns the maps in normalised
    units (K, 3, H, W), the same in grey levels, and the verdict."""
    gen = train_generator(model, images, task, references, num_classes, {k: cfg[k] for k in DEFAULTS if k in cfg},
                          seed)
    change = make_maps(model, gen, images, task, batch_size)
    return change, to_pixels(change), judge_maps(model, images, task, change)


@torch.no_grad()
def make_maps(model: FrozenModel, gen: MapGenerator, images: torch.Tensor, task: Task,
              batch_size: int = 16) -> torch.Tensor:
    """The effective maps x' - x (K, 3, H, W) in normalised units, x' kept in the pixel range."""
    out = []
    for start in range(0, len(task.image), batch_size):
        x = images[task.image[start:start + batch_size]]
        change = gen(x, model(x)[1], task.target[start:start + batch_size])
        out.append(apply_map(x, change) - x)
    return torch.cat(out)


@torch.no_grad()
def judge(model: FrozenModel, images: torch.Tensor, task: Task, maps: torch.Tensor, share: float,
          batch_size: int = 16) -> dict[str, torch.Tensor]:
    """Per row: agreement with the target over its region before and after (share of pixels), the
    model's answer after, and `flipped`: agreement reaches `share` after but not before, with a map
    that changes some pixel by at least half a grey level (a zero map is never a success)."""
    after = torch.cat([model(apply_map(images[task.image[s:s + batch_size]], maps[s:s + batch_size]))[0].argmax(1)
                       for s in range(0, len(task.image), batch_size)])
    region = task.region.float()
    count = region.flatten(1).sum(1).clamp(min=1)
    before_share = ((task.original == task.target).float() * region).flatten(1).sum(1) / count
    after_share = ((after == task.target).float() * region).flatten(1).sum(1) / count
    nonzero = to_pixels(maps).flatten(1).abs().amax(1) >= 0.5
    flipped = (after_share >= share) & (before_share < share) & nonzero
    return {"before": before_share, "after": after_share, "prediction": after, "flipped": flipped}
