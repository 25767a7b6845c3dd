"""Counterfactuals of an mmdet Mask R-CNN: the detector as the frozen model the map generator trains
against, its loss toward a target instance, and the judging of the maps by its own detections.

A target is one object of an image: its pixels (the region) and a category t. The generator reads the
label map t + 1 on the object's pixels (0 elsewhere) beside the detector's finest FPN level. The
detector's loss toward t is computed on the object's box as the RoI, summing the chosen `terms`:
- `cls`: the box head's classification loss, -log p(t), with the head's own activation (softmax, or
  seesaw's objectness-weighted scores);
- `box`: L1 of the box head's regression for class t toward the object's box (its encoded deltas);
- `mask`: binary cross-entropy of the mask head's logits for class t toward the object's mask in the RoI.
A counterfactual flipped when the detector calls the object t after the map (its best detection on the
object's box, IoU >= `iou`, has label t) and did not before, with a map that moves some pixel by half a
grey level or more."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F
from torchvision.ops import box_iou, roi_align

from realitygap.counterfactual.training import FrozenModel, Objective, Task, apply_map, to_pixels
from realitygap.detectors import PAD_DIVISOR, class_probabilities, detect

TERMS = ("cls", "box", "mask")


def padded(x: torch.Tensor) -> torch.Tensor:
    """Normalised images padded at the bottom and right to the detector's divisor (as mmdet pads them),
    contiguous (mmcv's CPU RoIAlign misreads channels-last features)."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % PAD_DIVISOR, 0, -h % PAD_DIVISOR)).contiguous()


def region_boxes(region: torch.Tensor) -> torch.Tensor:
    """Tight boxes (K, 4) as x0, y0, x1, y1 pixel edges of the masks (K, H, W) (as COCO's bbox of an RLE)."""
    def span(occupied: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.arange(occupied.shape[1], device=occupied.device).expand_as(occupied)
        first = torch.where(occupied, index, occupied.shape[1]).amin(1)
        return first, torch.where(occupied, index, -1).amax(1) + 1

    x0, x1 = span(region.any(1))
    y0, y1 = span(region.any(2))
    return torch.stack([x0, y0, x1, y1], 1).float()


def instance_task(image: torch.Tensor, masks: torch.Tensor, before: torch.Tensor, after: torch.Tensor) -> Task:
    """The generator's task for K objects: image indices, their masks (K, H, W) and their categories
    before (the original answer; -1 for none) and after (the target), as label maps (category + 1)."""
    masks = masks.bool()
    code = lambda labels: masks.long() * (labels.long() + 1).view(-1, 1, 1)   # noqa: E731
    return Task(image.long(), code(after), masks, code(before))


def roi_targets(task_target: torch.Tensor, region: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """RoIs (K, 5) on the objects' boxes, their target categories (K,) and boxes (K, 4) from the label maps."""
    labels = task_target.flatten(1).amax(1) - 1
    boxes = region_boxes(region)
    rois = torch.cat([torch.arange(len(boxes), device=boxes.device, dtype=boxes.dtype)[:, None], boxes], 1)
    return rois, labels, boxes


def mask_goal(region: torch.Tensor, rois: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Each object's mask resampled into its RoI's `size` grid and binarised, as mmdet's mask targets are."""
    return (roi_align(region[:, None].float(), rois, size, 1.0, 0, aligned=True)[:, 0] >= 0.5).float()


def detector_objective(net: torch.nn.Module, terms: list[str]) -> Objective:
    """The detector's loss toward the target categories on the objects' boxes: the sum of `terms`."""
    unknown = sorted(set(terms) - set(TERMS))
    if unknown or not terms:
        raise ValueError(f"instance counterfactual: terms must be a non-empty subset of {TERMS}, got {terms}")
    head = net.roi_head

    def objective(feats: tuple[torch.Tensor, ...], target: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
        rois, labels, boxes = roi_targets(target, region)
        rows = torch.arange(len(labels), device=labels.device)
        loss = rois.new_zeros(())
        if "cls" in terms or "box" in terms:
            out = head._bbox_forward(feats, rois)
            if "cls" in terms:
                loss = loss - class_probabilities(net, out["cls_score"])[rows, labels].clamp(min=1e-6).log().mean()
            if "box" in terms:
                deltas = out["bbox_pred"].view(len(rows), -1, 4)[rows, labels]
                loss = loss + (deltas - head.bbox_head.bbox_coder.encode(rois[:, 1:], boxes)).abs().mean()
        if "mask" in terms:
            logits = head._mask_forward(feats, rois)["mask_preds"][rows, labels]
            loss = loss + F.binary_cross_entropy_with_logits(logits, mask_goal(region, rois, logits.shape[-2:]))
        return loss
    return objective


def frozen_detector(net: torch.nn.Module, terms: list[str], level: int = 0) -> FrozenModel:
    """The detector as the generator sees it: its FPN outputs (for the objective) and FPN level `level`
    cropped to the image (the features G reads)."""
    def forward(x: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        feats = net.extract_feat(padded(x))
        stride = 4 * 2 ** level                         # FPN level 0 has stride 4
        return feats, feats[level][..., :math.ceil(x.shape[-2] / stride), :math.ceil(x.shape[-1] / stride)]
    return FrozenModel(net, forward, detector_objective(net, terms))


@torch.no_grad()
def object_probabilities(net: torch.nn.Module, x: torch.Tensor, image: torch.Tensor, boxes: torch.Tensor,
                         batch_size: int = 16) -> torch.Tensor:
    """The box head's class probabilities (K, C + 1; background last) on each object's box in its image."""
    out = []
    for s in range(0, len(image), batch_size):
        feats = net.extract_feat(padded(x[image[s:s + batch_size]]))
        b = boxes[s:s + batch_size]
        rois = torch.cat([torch.arange(len(b), device=b.device, dtype=b.dtype)[:, None], b], 1)
        out.append(class_probabilities(net, net.roi_head._bbox_forward(feats, rois)["cls_score"]))
    return torch.cat(out)


def found(detections: dict[str, torch.Tensor], label: int, box: torch.Tensor, iou: float) -> bool:
    """Whether the detector calls the object at `box` `label`: its highest-scoring detection overlapping the
    box by at least `iou` has that label (Mask R-CNN keeps a low-scoring detection of many classes per box)."""
    if len(detections["boxes"]) == 0:
        return False
    overlap = box_iou(box[None].float(), detections["boxes"].float())[0] >= iou
    if not overlap.any():
        return False
    best = detections["scores"].masked_fill(~overlap, -1.0).argmax()
    return int(detections["labels"][best]) == label


@torch.no_grad()
def judge_instances(model: FrozenModel, images: torch.Tensor, task: Task, maps: torch.Tensor, iou: float = 0.5,
                    batch_size: int = 16) -> dict[str, torch.Tensor]:
    """Per row: whether the detector finds the target category on the object's box before and after the
    map, its probability there before and after, and `flipped` (found after, not before, by a map that
    moves some pixel by at least half a grey level: a zero map never counts)."""
    net = model.net
    _, labels, boxes = roi_targets(task.target, task.region)
    verdict: dict[str, list] = {"found_before": [], "found_after": [], "p_before": [], "p_after": []}
    for s in range(0, len(labels), batch_size):
        x = images[task.image[s:s + batch_size]]
        moved = apply_map(x, maps[s:s + batch_size])
        local = torch.arange(len(x), device=x.device)
        for when, batch in (("before", x), ("after", moved)):
            rows = range(s, s + len(x))
            verdict[f"found_{when}"] += [found(d, int(labels[k]), boxes[k], iou) for d, k in zip(detect(net, batch), rows)]
            probs = object_probabilities(net, batch, local, boxes[s:s + len(x)])
            verdict[f"p_{when}"].append(probs[local, labels[s:s + len(x)]])
    out = {k: torch.tensor(v, dtype=torch.bool) for k, v in verdict.items() if k.startswith("found")}
    out |= {k: torch.cat(v).cpu() if v else torch.zeros(0) for k, v in verdict.items() if k.startswith("p_")}
    nonzero = to_pixels(maps).flatten(1).abs().amax(1).cpu() >= 0.5
    out["flipped"] = out["found_after"] & ~out["found_before"] & nonzero
    return out
