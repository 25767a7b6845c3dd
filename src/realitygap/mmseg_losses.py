"""mmseg loss modules of ours, registered in mmseg's registry when imported.

`IgnoreAwareCrossEntropyLoss`: mmseg 1.2.2's CrossEntropyLoss with class weights fails on label maps that
hold the ignore label (it indexes the class weights with 255), and without class weights it divides by
every pixel, ignored ones included. Pseudo-labels mark uncertain pixels 255, so cross-entropy here is
averaged over the labelled pixels only, weighted as PyTorch's `cross_entropy(weight=...)` averages.
On label maps without ignored pixels it equals mmseg's loss (tested).
"""

from __future__ import annotations

import torch
from mmseg.models.losses import CrossEntropyLoss
from mmseg.registry import MODELS


@MODELS.register_module()
class IgnoreAwareCrossEntropyLoss(CrossEntropyLoss):
    """Softmax cross-entropy averaged over non-ignored pixels, each counted with its class weight."""

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor, weight=None, avg_factor=None,
                reduction_override=None, ignore_index: int = 255, **kwargs) -> torch.Tensor:
        if avg_factor is None and (reduction_override or self.reduction) == "mean":
            valid = label != ignore_index
            if self.class_weight is not None:
                class_weight = cls_score.new_tensor(self.class_weight)
                avg_factor = (class_weight[label.clamp(0, len(class_weight) - 1)] * valid).sum()
            else:
                avg_factor = valid.sum()
            avg_factor = avg_factor.clamp(min=1e-6)
        return super().forward(cls_score, label, weight, avg_factor, reduction_override, ignore_index, **kwargs)
