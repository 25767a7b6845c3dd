"""Pixel affinity and random walk (AffinityNet: Ahn and Kwak, CVPR 2018).

An affinity head on the segmentation backbone embeds every pixel; the affinity of pixels i and j within
`radius` is W_ij = exp(-mean |f_i - f_j|). It is trained on the confident labels of the CRF-refined
priors (255 = not confident): pairs of one foreground class pull together, background pairs too, pairs
of different labels push apart,

    L = L_fg+ + L_bg+ + 2 L-,  L+ = -mean log W_ij,  L- = -mean log (1 - W_ij).

The class scores are then propagated by a random walk with transition matrix T = D^-1 W^beta
(D_ii = sum_j W_ij^beta, self-loops included): vec(M*) = T^t vec(M) for t `steps`.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import nn

from realitygap.models import forward_logits, model_config


def offsets(radius: int, half: bool = True) -> list[tuple[int, int]]:
    """(dy, dx) pixel offsets with 0 < |d| <= radius; `half` keeps one of each symmetric pair."""
    out = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)
           if 0 < dy * dy + dx * dx <= radius * radius]
    return [(dy, dx) for dy, dx in out if dy > 0 or (dy == 0 and dx > 0)] if half else out


def _pairs(t: torch.Tensor, dy: int, dx: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The two views (..., h', w') of `t` whose positions are pixel pairs at offset (dy, dx)."""
    h, w = t.shape[-2:]
    y0, y1 = max(0, -dy), h - max(0, dy)
    x0, x1 = max(0, -dx), w - max(0, dx)
    return t[..., y0:y1, x0:x1], t[..., y0 + dy:y1 + dy, x0 + dx:x1 + dx]


def affinity_loss(features: torch.Tensor, labels: torch.Tensor, radius: int, eps: float = 1e-5) -> dict:
    """The AffinityNet loss of embeddings (N, D, H, W) against labels (N, H, W) (255 = not used)."""
    sums = {k: features.new_zeros(()) for k in ("fg", "bg", "neg")}
    counts = dict.fromkeys(sums, 0)
    for dy, dx in offsets(radius):
        fa, fb = _pairs(features, dy, dx)
        la, lb = _pairs(labels, dy, dx)
        w = torch.exp(-(fa - fb).abs().mean(1))
        valid = (la != 255) & (lb != 255)
        groups = {"fg": valid & (la == lb) & (la > 0), "bg": valid & (la == lb) & (la == 0), "neg": valid & (la != lb)}
        for key, sel in groups.items():
            values = torch.log(1 - w[sel] + eps) if key == "neg" else torch.log(w[sel] + eps)
            sums[key] = sums[key] - values.sum()
            counts[key] += int(sel.sum())
    mean = {k: sums[k] / max(1, counts[k]) for k in sums}
    return {"loss_aff_fg": mean["fg"], "loss_aff_bg": mean["bg"], "loss_aff_neg": 2 * mean["neg"]}


@MODELS.register_module()
class AffinityHead(BaseDecodeHead):
    """Pixel embeddings (N, D, H, W): a 1x1 convolution over the backbone's maps resized to full size and
    concatenated (`num_classes` = D); trained with `affinity_loss` on the data samples' label maps."""

    def __init__(self, radius: int = 4, **kwargs) -> None:
        super().__init__(input_transform="resize_concat", **kwargs)
        self.radius = radius

    def forward(self, inputs) -> torch.Tensor:
        return self.conv_seg(self._transform_inputs(inputs))

    def loss_by_feat(self, seg_logits: torch.Tensor, batch_data_samples) -> dict:
        labels = torch.stack([s.gt_sem_seg.data[0] for s in batch_data_samples]).long()
        return affinity_loss(seg_logits, labels, self.radius)


def affinity_config(model: dict, size: int, dims: int, radius: int) -> dict:
    """The segmentation model entry's EncoderDecoder with `AffinityHead` over its last three maps."""
    if model["arch"] not in ("unet", "encdec"):
        raise ValueError(f"pseudolabel: the affinity net needs a unet or encdec backbone, not {model['arch']!r}")
    config = model_config(model, size)
    stages, width = model.get("num_stages", 4), model.get("base_channels", 16)
    index = list(range(stages - 1, max(-1, stages - 4), -1))       # full resolution first: resized to it
    channels = [width * 2 ** (stages - 1 - i) for i in index]
    config["decode_head"] = dict(type="AffinityHead", in_channels=channels, channels=sum(channels), in_index=index,
                                 num_classes=dims, dropout_ratio=0.0, norm_cfg=None, align_corners=False, radius=radius)
    return config


def embed(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Pixel embeddings (N, D, H, W) of uint8 RGB images (N, H, W, 3)."""
    with torch.no_grad():
        return forward_logits(net, images)


def transition_matrix(features: torch.Tensor, radius: int, beta: float) -> sparse.csr_matrix:
    """Sparse T = D^-1 W^beta (HW, HW) of one image's embeddings (D, H, W): W_ij within `radius`, W_ii = 1.
    (SciPy's CSR product runs the walk 13x faster than torch's COO one on the CPU: bench/random_walk.py.)"""
    h, w = features.shape[-2:]
    index = torch.arange(h * w).view(h, w)
    rows, cols, vals = [index.flatten()], [index.flatten()], [torch.ones(h * w)]
    for dy, dx in offsets(radius, half=False):
        fa, fb = _pairs(features, dy, dx)
        ia, ib = _pairs(index, dy, dx)
        rows.append(ia.flatten())
        cols.append(ib.flatten())
        vals.append(torch.exp(-(fa - fb).abs().mean(0)).flatten() ** beta)
    rows, cols = torch.cat(rows).numpy(), torch.cat(cols).numpy()
    vals = torch.cat(vals).double().numpy()
    degree = np.bincount(rows, weights=vals, minlength=h * w)
    return sparse.csr_matrix((vals / degree[rows], (rows, cols)), shape=(h * w, h * w))


def random_walk(transition: sparse.csr_matrix, scores: np.ndarray, steps: int) -> np.ndarray:
    """Scores (K, H, W) propagated `steps` times: vec(M) <- T vec(M) per class."""
    k, h, w = scores.shape
    m = scores.reshape(k, h * w).T.astype(np.float64)
    for _ in range(steps):
        m = transition @ m
    return m.T.reshape(k, h, w).astype(np.float32)
