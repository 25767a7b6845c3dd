"""Mechanics shared by every attribution method: segmentation targets, layer hooks, batching and
normalisation of maps. A method subclasses `Explainer` and says only how its map is computed.

Targets follow Seg-Grad-CAM (Vinogradova et al., 2020): the score of class c over a pixel set M is
`y_c = sum_{(i,j) in M} logit_c(i, j)`, the same as pytorch-grad-cam's `SemanticSegmentationTarget`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from realitygap.models import forward_logits, normalise


@dataclass
class Target:
    """A semantic class over a region per image: `region` is (N, H, W) bool."""

    class_index: int
    region: torch.Tensor


def target_score(logits: torch.Tensor, target: Target) -> torch.Tensor:
    """Per-image Seg-Grad-CAM score (N,): the class logits summed over the target region."""
    return (logits[:, target.class_index] * target.region.to(logits.dtype)).sum(dim=(1, 2))


def resolve_layer(net: nn.Module, spec: str) -> tuple[nn.Module, str]:
    """`path` or `path:input` to (module, "output" | "input"); unknown paths raise ValueError."""
    path, _, side = spec.partition(":")
    side = side or "output"
    if side not in ("input", "output"):
        raise ValueError(f"target layer {spec!r}: suffix must be ':input' or ':output'")
    try:
        return net.get_submodule(path), side
    except AttributeError as err:
        names = [n for n, _ in net.named_modules() if n][:40]
        raise ValueError(f"target layer {path!r} is not a module of the model; some are: {names}") from err


class LayerCapture:
    """Context manager that records a module's input or output activation on each forward."""

    def __init__(self, module: nn.Module, side: str = "output") -> None:
        self.module, self.side = module, side
        self.activation: torch.Tensor | None = None

    def _hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self.activation = inputs[0] if self.side == "input" else output

    def __enter__(self) -> "LayerCapture":
        self._handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()


def normalise_maps(maps: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Scale each map of (N, T, H, W) to [0, 1] by its own min and max (as pytorch-grad-cam does)."""
    flat = maps.flatten(2)
    lo = flat.min(-1, keepdim=True).values
    hi = flat.max(-1, keepdim=True).values
    return ((flat - lo) / (hi - lo + eps)).view_as(maps)


class Explainer:
    """Base of attribution methods for segmentation models. Gradients are taken with
    `torch.autograd.grad` for the tensors a method needs only, so weights and their `.grad` never change."""

    name = "base"

    def __init__(self, net: nn.Module, target_layer: str | None = None) -> None:
        self.net = net.eval()
        self.target_layer = target_layer

    def explain(self, images: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        """Maps (N, T, H, W) in [0, 1] for uint8 RGB images (N, H, W, 3) and T targets."""
        x = normalise(self.net, images)
        return normalise_maps(self.attribute(x, targets))

    def attribute(self, x: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        """Raw maps (N, T, H, W) for normalised inputs `x`; subclasses implement this."""
        raise NotImplementedError

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable logits of the analysed model."""
        return forward_logits(self.net, x, normalised=True)
