"""Classification losses of the Mask R-CNN box head for long-tailed categories, as mmdet loss configs:
cross-entropy, focal, seesaw (mmdet's), class-frequency re-weighting, and the label-distribution-aware
margin loss (LDAM, Cao et al., NeurIPS 2019), registered here in mmdet's registry.

LDAM subtracts a class margin from the true class's logit before the softmax cross-entropy:
margin_j = C / n_j^(1/4) for a category with n_j training instances, C chosen so that the largest margin is
`max_margin`; rare categories get the widest margins. The background class of the box head gets none.
"""

from __future__ import annotations

import torch
from mmdet.models.losses.utils import weight_reduce_loss
from mmdet.registry import MODELS
from torch import nn

CLASSIFICATION_LOSSES = ("ce", "focal", "seesaw", "reweight", "ldam")


def ldam_margins(class_counts: list[int], max_margin: float = 0.5) -> torch.Tensor:
    """C / n_j^(1/4) per category, scaled so that the largest is `max_margin`."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    if (counts <= 0).any():
        raise ValueError(f"LDAM: every category needs at least one training instance, got counts {class_counts}")
    margins = counts ** -0.25
    return (margins * (max_margin / margins.max())).float()


@MODELS.register_module()
class LDAMLoss(nn.Module):
    """Softmax cross-entropy on `scale * (logits - margin_y * onehot_y)`; the last logit is background."""

    def __init__(self, class_counts: list[int], max_margin: float = 0.5, scale: float = 1.0,
                 loss_weight: float = 1.0):
        super().__init__()
        self.register_buffer("margins", torch.cat([ldam_margins(class_counts, max_margin), torch.zeros(1)]))
        self.scale, self.loss_weight = scale, loss_weight

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | None = None, reduction_override: str | None = None, **kwargs) -> torch.Tensor:
        shifted = cls_score - nn.functional.one_hot(label, cls_score.shape[1]) * self.margins[label].unsqueeze(1)
        loss = nn.functional.cross_entropy(self.scale * shifted, label, reduction="none")
        if weight is not None:
            weight = weight.float()
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction_override or "mean", avg_factor)


def reweight_class_weights(class_counts: list[int]) -> list[float]:
    """Inverse-frequency weights normalised to mean 1 over the categories, and 1 for the background."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    weights = (1 / counts) / (1 / counts).mean()
    return [round(float(w), 6) for w in weights] + [1.0]


def classification_loss(name: str, class_counts: list[int]) -> dict:
    """The box head's `loss_cls` config for loss `name` and the training instances per category."""
    if name == "ce":
        return dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0)
    if name == "focal":
        return dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0)
    if name == "seesaw":
        return dict(type="SeesawLoss", p=0.8, q=2.0, num_classes=len(class_counts), loss_weight=1.0)
    if name == "reweight":
        return dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0,
                    class_weight=reweight_class_weights(class_counts))
    if name == "ldam":
        return dict(type="LDAMLoss", class_counts=list(class_counts), max_margin=0.5, scale=1.0, loss_weight=1.0)
    raise ValueError(f"unknown classification loss {name!r} (known: {', '.join(CLASSIFICATION_LOSSES)})")
