"""Targets and mechanics for explaining detected instances of an mmdet detector (Mask R-CNN): an
instance is a class label and a box in one image. Ground-truth objects are matched to detections by
IoU, so explanations of the same object can be compared between models."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.ops import box_iou

from realitygap.detectors import class_probabilities
from realitygap.explain.base import normalise_maps
from realitygap.models import normalise


@dataclass
class InstanceTarget:
    """One instance: `image` index in the batch, class `label`, `box` (4,) as x0, y0, x1, y1 pixels."""

    image: int
    label: int
    box: torch.Tensor
    mask: torch.Tensor | None = None     # (H, W) bool: the object's pixels, where known


def match_instances(boxes: torch.Tensor, labels: torch.Tensor, detections: dict[str, torch.Tensor], image: int,
                    iou_threshold: float = 0.5) -> list[InstanceTarget | None]:
    """For each ground-truth box, the detected instance of the same label with the highest IoU (at
    least `iou_threshold`), as a target; None where the detector missed the object."""
    out: list[InstanceTarget | None] = []
    if len(detections["boxes"]) == 0:
        return [None] * len(boxes)
    iou = box_iou(boxes.float(), detections["boxes"].float())
    iou[labels[:, None] != detections["labels"][None, :]] = 0
    for g in range(len(boxes)):
        best = int(iou[g].argmax())
        out.append(InstanceTarget(image, int(labels[g]), detections["boxes"][best])
                   if iou[g, best] >= iou_threshold else None)
    return out


class InstanceExplainer:
    """Base of instance attribution methods; the detector's weights never change."""

    name = "instance_base"
    options: dict = {}

    def __init__(self, net: torch.nn.Module, target_layer: str | None = None, seed: int = 0, **options) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ValueError(f"explain method {self.name!r}: unknown options {unknown} (known: {sorted(self.options)})")
        self.net = net.eval()
        self.target_layer = target_layer
        self.seed = seed
        self.opts = {**self.options, **options}

    def explain(self, images: torch.Tensor, targets: list[InstanceTarget]) -> torch.Tensor:
        """Maps (K, H, W) in [0, 1] for uint8 RGB images (N, H, W, 3) and K instance targets."""
        maps = self.attribute(normalise(self.net, images).contiguous(), targets)    # see detectors.detect
        return normalise_maps(maps[None].float())[0]

    def attribute(self, x: torch.Tensor, targets: list[InstanceTarget]) -> torch.Tensor:
        raise NotImplementedError


def instance_scores(net: torch.nn.Module, feats: tuple[torch.Tensor, ...], targets: list[InstanceTarget],
                    head: str = "class") -> torch.Tensor:
    """Differentiable scores (K,) of the targets on their boxes as RoIs: the class probability from the
    box head (`class`) or the sum of the class's mask logits from the mask head (`mask`)."""
    rois = torch.stack([torch.cat([torch.tensor([float(t.image)], device=t.box.device), t.box.float()])
                        for t in targets]).to(feats[0].device)
    labels = torch.tensor([t.label for t in targets], device=rois.device)
    rows = torch.arange(len(targets), device=rois.device)
    if head == "class":
        return class_probabilities(net, net.roi_head._bbox_forward(feats, rois)["cls_score"])[rows, labels]
    if head == "mask":
        return net.roi_head._mask_forward(feats, rois)["mask_preds"][rows, labels].sum(dim=(1, 2))
    raise ValueError(f"instance target head must be 'class' or 'mask', not {head!r}")
