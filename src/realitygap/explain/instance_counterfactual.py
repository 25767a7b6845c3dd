"""Counterfactual maps of Mask R-CNN instances (Learn-Explain-Reinforce for detectors): what would have
to change in the image for the detector to answer otherwise about one object. Per target:
- `relabel`: the detector calls the object by its label; the target is its runner-up category on the
  object's box ("what makes this bath towel a beach towel");
- `find`: it does not; the target is the label itself ("what must change for the detector to find it");
- `auto` picks `relabel` where the label is the box head's most probable class on the box, else `find`.
A generator trained against the frozen detector (its loss toward the target: `terms` of
`realitygap.counterfactual.instances`) writes the additive map; the attribution map is |M| summed over
the colour channels. Rows (direction, categories, probabilities before / after, found, flipped) and the
counterfactual images are kept in `extras`."""

from __future__ import annotations

import torch

from realitygap.counterfactual.instances import (frozen_detector, instance_task, judge_instances,
                                                 object_probabilities, region_boxes)
from realitygap.counterfactual.training import apply_map, fit, generator_options
from realitygap.explain.counterfactual import to_uint8
from realitygap.explain.instance import InstanceExplainer, InstanceTarget

DIRECTIONS = ("auto", "relabel", "find")


def target_masks(targets: list[InstanceTarget], shape: tuple[int, int], device: torch.device) -> torch.Tensor:
    """Each target's object pixels (K, H, W): its mask, else its box."""
    out = torch.zeros(len(targets), *shape, dtype=torch.bool, device=device)
    for k, t in enumerate(targets):
        if t.mask is not None:
            out[k] = torch.as_tensor(t.mask, device=device).bool()
        else:
            x0, y0, x1, y1 = (int(round(float(v))) for v in t.box)
            out[k, max(y0, 0):y1, max(x0, 0):x1] = True
    return out


def choose_targets(probs: torch.Tensor, labels: torch.Tensor, direction: str) -> tuple[torch.Tensor, list[str]]:
    """Target category and direction per object from the box head's probabilities (K, C + 1)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"instance counterfactual: direction must be one of {DIRECTIONS}, not {direction!r}")
    categories = probs[:, :-1].clone()
    rows = torch.arange(len(labels), device=labels.device)
    named = probs.argmax(1) == labels
    ways = [direction if direction != "auto" else ("relabel" if n else "find") for n in named.tolist()]
    categories[rows, labels] = float("-inf")
    runner_up = categories.argmax(1)
    relabel = torch.tensor([w == "relabel" for w in ways], device=labels.device)
    return torch.where(relabel, runner_up, labels), ways


class InstanceCounterfactual(InstanceExplainer):
    name = "instance_counterfactual"
    options = {"terms": ["cls"], "direction": "auto", "iou": 0.5, "feature_level": 0,
               **generator_options(iters=150)}       # a few objects per run: half the batches suffice

    def attribute(self, x: torch.Tensor, targets: list[InstanceTarget]) -> torch.Tensor:
        masks = target_masks(targets, tuple(x.shape[-2:]), x.device)
        image = torch.tensor([t.image for t in targets], device=x.device)
        labels = torch.tensor([t.label for t in targets], device=x.device)
        probs = object_probabilities(self.net, x, image, region_boxes(masks))
        goal, ways = choose_targets(probs, labels, self.opts["direction"])
        before = torch.where(torch.tensor([w == "relabel" for w in ways], device=x.device), labels, -1)
        task = instance_task(image, masks, before, goal)
        model = frozen_detector(self.net, list(self.opts["terms"]), int(self.opts["feature_level"]))
        iou = float(self.opts["iou"])
        change, pixels, verdict = fit(model, x, task, x, probs.shape[1], self.opts, self.seed,
                                      lambda *a: judge_instances(*a, iou))
        self.extras = {"rows": [
            {"image": t.image, "label": t.label, "target": int(goal[k]), "direction": ways[k],
             "p_before": round(float(verdict["p_before"][k]), 4), "p_after": round(float(verdict["p_after"][k]), 4),
             "found_before": bool(verdict["found_before"][k]), "found_after": bool(verdict["found_after"][k]),
             "flipped": bool(verdict["flipped"][k]), "mean_abs_change": round(pixels[k].abs().mean().item(), 3)}
            for k, t in enumerate(targets)],
            "flip_rate": round(float(verdict["flipped"].float().mean()), 4) if len(targets) else None,
            "counterfactual": to_uint8(apply_map(x[image], change))}
        return pixels.abs().sum(1)
