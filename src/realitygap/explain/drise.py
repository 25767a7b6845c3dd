"""D-RISE (Petsiuk et al., CVPR 2021): RISE for detections. Under mask i, the similarity of target t
to detection j is IoU(box_t, box_j) * cos(P_t, P_j) * O_j; the mask weighs max_j of it, and the map is
the weighted mean of the masks. mmdet's Mask R-CNN returns a label and a score per detection rather
than a class distribution, so P is one-hot (cos = 1 for the same label, else 0) and O_j is the
detection's score, as implementations for such detectors do."""

from __future__ import annotations

from typing import Callable

import torch
from torchvision.ops import box_iou

from realitygap.detectors import detect
from realitygap.explain.instance import InstanceExplainer, InstanceTarget
from realitygap.explain.rise import rise_masks
from realitygap.progress import progress


def drise_weights(targets: list[InstanceTarget], detections: list[dict[str, torch.Tensor]]) -> torch.Tensor:
    """(M, K) weights: for each masked image m and target k, max_j IoU * [same label] * score."""
    w = torch.zeros(len(detections), len(targets))
    for m, det in enumerate(detections):
        if len(det["boxes"]) == 0:
            continue
        for k, t in enumerate(targets):
            iou = box_iou(t.box[None].float().cpu(), det["boxes"].float().cpu())[0]
            same = (det["labels"].cpu() == t.label).float()
            w[m, k] = (iou * same * det["scores"].float().cpu()).max()
    return w


class DRISE(InstanceExplainer):
    name = "drise"
    options = {"masks": 300, "cells": 8, "p": 0.5, "batch_size": 32}

    def __init__(self, net: torch.nn.Module, target_layer: str | None = None, seed: int = 0,
                 detector: Callable[[torch.Tensor], list[dict]] | None = None, **options) -> None:
        super().__init__(net, target_layer, seed, **options)
        self.detector = detector or (lambda x: detect(self.net, x))

    def attribute(self, x: torch.Tensor, targets: list[InstanceTarget]) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed)
        masks = rise_masks(self.opts["masks"], self.opts["cells"], self.opts["p"], tuple(x.shape[-2:]), gen)
        masks = masks.to(x.device)
        saliency = torch.zeros(len(targets), *x.shape[-2:], device=x.device)
        for image in progress(sorted({t.image for t in targets}), desc="d-rise images"):
            mine = [k for k, t in enumerate(targets) if t.image == image]
            for start in range(0, len(masks), self.opts["batch_size"]):
                m = masks[start:start + self.opts["batch_size"]]
                w = drise_weights([targets[k] for k in mine], self.detector(x[image][None] * m[:, None]))
                saliency[mine] += torch.einsum("mk,mhw->khw", w.to(x.device), m)
        return saliency / len(masks)
