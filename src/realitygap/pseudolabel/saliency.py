"""C²AM-H: a class-agnostic activation map learned contrastively (C²AM: Xie et al., CVPR 2022) with hints
from the CAM priors (P-NOC's C²AM-H, seed 001 section 4.2), which replaces the priors' constant background
score.

A one-channel head on the backbone's full-resolution map gives each pixel a foreground probability a. Per
image, the foreground and background representations are the a- and (1 - a)-weighted means of the
features, v_f and v_b (unit length). Over a batch, with s the cosine similarity:

    L = -mean_{i!=j} log s(v_f_i, v_f_j) - mean_{i!=j} log s(v_b_i, v_b_j) - mean_{i,j} log (1 - s(v_f_i, v_b_j))
        + hint_weight * mean over hinted pixels of BCE(a, hint),

the hints being 1 where the classes' strongest CAM is above `hint_threshold` and 0 where it is below
`background_threshold` (they also settle which of a and 1 - a is the foreground). The background score of
a pixel is then 1 - a.
"""

from __future__ import annotations

import torch
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch.nn import functional as F

from realitygap.models import forward_logits, model_config

FOREGROUND, BACKGROUND, UNHINTED = 1, 0, 255       # values of the hint maps the net is trained on


def _pair_loss(a: torch.Tensor, b: torch.Tensor, negative: bool, eps: float = 1e-4) -> torch.Tensor:
    sim = a @ b.T
    if negative:
        return -torch.log((1 - sim).clamp_min(eps)).mean()
    off = ~torch.eye(len(a), dtype=torch.bool, device=a.device)
    return -torch.log(sim[off].clamp_min(eps)).mean() if off.any() else sim.new_zeros(())


def contrastive_losses(features: torch.Tensor, logits: torch.Tensor, hints: torch.Tensor,
                       hint_weight: float) -> dict:
    """C²AM-H's losses of features (N, D, H, W), foreground logits (N, 1, H, W) and hint maps (N, H, W)."""
    a = torch.sigmoid(logits)
    fg = F.normalize((a * features).sum((2, 3)) / a.sum((2, 3)).clamp_min(1e-5), dim=1)
    bg = F.normalize(((1 - a) * features).sum((2, 3)) / (1 - a).sum((2, 3)).clamp_min(1e-5), dim=1)
    hinted = hints != UNHINTED
    hint = F.binary_cross_entropy_with_logits(logits[:, 0][hinted], (hints[hinted] == FOREGROUND).to(logits.dtype)) \
        if hinted.any() else logits.sum() * 0
    return {"loss_pos_fg": _pair_loss(fg, fg, False), "loss_pos_bg": _pair_loss(bg, bg, False),
            "loss_neg": _pair_loss(fg, bg, True), "loss_hint": hint_weight * hint}


@MODELS.register_module()
class ContrastiveActivationHead(BaseDecodeHead):
    """Foreground logits (N, 1, H, W): a 1x1 convolution on the selected backbone map; trained with
    `contrastive_losses` on the data samples' hint maps."""

    def __init__(self, hint_weight: float = 1.0, **kwargs) -> None:
        super().__init__(num_classes=1, out_channels=1, threshold=0.5, **kwargs)
        self.hint_weight = hint_weight

    def forward(self, inputs) -> torch.Tensor:
        return self.conv_seg(self._transform_inputs(inputs))

    def loss(self, inputs, batch_data_samples, train_cfg) -> dict:
        features = self._transform_inputs(inputs)
        hints = torch.stack([s.gt_sem_seg.data[0] for s in batch_data_samples]).long()
        return contrastive_losses(features, self.conv_seg(features), hints, self.hint_weight)


def saliency_config(model: dict, size: int, hint_weight: float) -> dict:
    """The segmentation model entry's EncoderDecoder with `ContrastiveActivationHead` on its full-resolution map."""
    if model["arch"] not in ("unet", "encdec"):
        raise ValueError(f"pseudolabel: the saliency net needs a unet or encdec backbone, not {model['arch']!r}")
    config = model_config(model, size)
    head = config["decode_head"]
    config["decode_head"] = dict(type="ContrastiveActivationHead", in_channels=head["in_channels"],
                                 channels=head["in_channels"], in_index=head["in_index"], dropout_ratio=0.0,
                                 norm_cfg=None, align_corners=False, hint_weight=hint_weight)
    return config


def hint_maps(priors: torch.Tensor, threshold: float, background_threshold: float) -> torch.Tensor:
    """Hint maps (N, H, W) uint8 of class scores (N, 1 + C, H, W): FOREGROUND where the strongest class CAM is
    above `threshold`, BACKGROUND where it is below `background_threshold`, else UNHINTED."""
    strongest = priors[:, 1:].amax(1)
    hints = torch.full(strongest.shape, UNHINTED, dtype=torch.uint8)
    hints[strongest > threshold] = FOREGROUND
    hints[strongest < background_threshold] = BACKGROUND
    return hints


def foreground(net: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Foreground probabilities (N, H, W) of uint8 RGB images (N, H, W, 3)."""
    with torch.no_grad():
        return torch.sigmoid(forward_logits(net, images)[:, 0])
