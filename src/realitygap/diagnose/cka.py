"""Linear centred kernel alignment (Kornblith et al., ICML 2019) between two layers' activations on
the same n inputs, through the n x n Gram matrices: CKA = <K, L>_F / (||K||_F ||L||_F) with K = X X^T,
L = Y Y^T of column-centred X (n, p) and Y (n, q); equal to ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)
and cheaper when p, q >> n (a conv layer's flattened maps)."""

from __future__ import annotations

from contextlib import ExitStack

import torch

from realitygap.explain.base import LayerCapture, resolve_layer
from realitygap.models import forward_logits


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA of activations x (n, ...) and y (n, ...) of the same n inputs, in [0, 1]."""
    x = x.flatten(1).double()
    y = y.flatten(1).double()
    x, y = x - x.mean(0), y - y.mean(0)
    k, l = x @ x.T, y @ y.T
    return float((k * l).sum() / (k.norm() * l.norm()).clamp(min=1e-12))


@torch.no_grad()
def layer_features(net: torch.nn.Module, images: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
    """Activations of the named layers (module paths, `:input` allowed) for uint8 images (N, H, W, 3)."""
    with ExitStack() as stack:
        captures = [stack.enter_context(LayerCapture(*resolve_layer(net, spec))) for spec in layers]
        forward_logits(net, images.to(next(net.parameters()).device))
    return {spec: c.activation.detach().cpu() for spec, c in zip(layers, captures)}
