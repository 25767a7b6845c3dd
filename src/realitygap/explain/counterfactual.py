"""Counterfactual maps (Learn-Explain-Reinforce): not where the model looks, but what would have to
change in the image for it to answer otherwise. Per image and target class over its region:
- `add`: the model should find the class over the region ("what must change in this photo for the
  model to find the seam"); `remove`: it should stop seeing it there (the region's pixels it labels
  with the class take their runner-up class); `auto` picks `add` where the model finds the class on
  less than `flip_share` of the region, else `remove`.
A generator G is trained against the frozen model on the explained images (realism judged against
those same images); the map of a target is |M| summed over the colour channels (scaled to [0, 1] like
every map; its size in grey levels is `mean_abs_change`).
The counterfactual images, the model's answers before and after and whether each one flipped are
kept in `extras`; the stage adds the share of |M| on every cue region."""

from __future__ import annotations

import numpy as np
import torch

from realitygap.counterfactual.training import FrozenModel, Task, fit, generator_options, judge
from realitygap.explain.base import Explainer, LayerCapture, Target, resolve_layer
from realitygap.models import MEAN, STD, forward_logits

DIRECTIONS = ("auto", "add", "remove")


def build_task(logits: torch.Tensor, targets: list[Target], direction: str, share: float) -> tuple[Task, list[dict]]:
    """The rows of the counterfactual task (one per image and target with a non-empty region) and
    their description (image, target, class, direction)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"explain method 'counterfactual': direction must be one of {DIRECTIONS}, not {direction!r}")
    pred = logits.argmax(1)
    runner_up = logits.scatter(1, pred[:, None], float("-inf")).argmax(1)
    rows, labels, regions, images = [], [], [], []
    for j, target in enumerate(targets):
        c = target.class_index
        for i in range(len(pred)):
            region = target.region[i].to(pred.device)
            if not region.any():
                continue
            found = (pred[i][region] == c).float().mean().item()
            way = direction if direction != "auto" else ("add" if found < share else "remove")
            label = pred[i].clone()
            if way == "add":
                label[region] = c
            else:
                sees = region & (pred[i] == c)
                label[sees] = runner_up[i][sees]
            rows.append({"image": i, "target": j, "class_index": c, "direction": way})
            labels.append(label)
            regions.append(region)
            images.append(i)
    device = pred.device
    if not rows:
        empty = torch.zeros(0, *pred.shape[1:], dtype=torch.long, device=device)
        return Task(torch.zeros(0, dtype=torch.long, device=device), empty, empty.bool(), empty), rows
    index = torch.tensor(images, device=device)
    return Task(index, torch.stack(labels), torch.stack(regions), pred[index]), rows


def frozen_model(net: torch.nn.Module, layer: str, logits=None) -> FrozenModel:
    """The model as the generator sees it: its logits (`logits(x)`, default the mmseg forward) and
    its activation at `layer` (`path` or `path:input`)."""
    logits = logits or (lambda x: forward_logits(net, x, normalised=True))
    module, side = resolve_layer(net, layer)

    def forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with LayerCapture(module, side) as capture:
            out = logits(x)
        return out, capture.activation
    return FrozenModel(net, forward)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Normalised images (K, 3, H, W) as uint8 RGB (K, H, W, 3)."""
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (x * std + mean).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


class Counterfactual(Explainer):
    name = "counterfactual"
    options = {"feature_layer": None, "direction": "auto", "flip_share": 0.5,
               **{k: v for k, v in generator_options().items() if k != "batch_size"}}   # batches: the explainer's

    def attribute(self, x: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        with torch.no_grad():
            logits = self.logits(x)
        task, rows = build_task(logits, targets, self.opts["direction"], self.opts["flip_share"])
        model = frozen_model(self.net, self.opts["feature_layer"] or self.target_layer, self.logits)
        maps = torch.zeros(len(x), len(targets), *x.shape[-2:], device=x.device)
        image, before = to_uint8(x), logits.argmax(1).cpu().numpy().astype(np.uint8)
        moved = np.repeat(image[:, None], len(targets), axis=1)      # targets without a region keep the image
        after = np.repeat(before[:, None], len(targets), axis=1)
        self.extras = {"counterfactual": {"rows": rows, "flip_rate": None},
                       "arrays": {"image": image, "counterfactual": moved, "after": after, "before": before}}
        if not rows:
            return maps
        share = self.opts["flip_share"]
        change, pixels, verdict = fit(model, x, task, x, logits.shape[1], self.opts | {"batch_size": self.batch_size},
                                      self.seed, lambda *a: judge(*a, share, self.batch_size), self.batch_size)
        for k, row in enumerate(rows):
            i, j = row["image"], row["target"]
            maps[i, j] = pixels[k].abs().sum(0)
            moved[i, j] = to_uint8(x[i:i + 1] + change[k:k + 1])[0]
            after[i, j] = verdict["prediction"][k].cpu().numpy()
            row.update(agreement_before=round(verdict["before"][k].item(), 4),
                       agreement_after=round(verdict["after"][k].item(), 4), flipped=bool(verdict["flipped"][k]),
                       mean_abs_change=round(pixels[k].abs().mean().item(), 3))
        self.extras["counterfactual"]["flip_rate"] = round(float(verdict["flipped"].float().mean()), 4)
        return maps

    def describe(self, maps: np.ndarray, regions: dict[str, np.ndarray]) -> None:
        """Add to each row the share (%) of its |M| on every cue region of its image."""
        for row in self.extras.get("counterfactual", {}).get("rows", []):
            m = maps[row["image"], row["target"]]
            total = max(float(m.sum()), 1e-12)
            row["share"] = {name: round(100 * float(m[r[row["image"]]].sum()) / total, 2) for name, r in regions.items()}
