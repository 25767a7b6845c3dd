"""Mechanics shared by every attribution method: segmentation targets, layer hooks, batched scoring
of perturbed inputs, and normalisation of maps. A method subclasses `Explainer` (or `CAMExplainer`)
and says only how its map is computed.

Targets follow Seg-Grad-CAM (Vinogradova et al., 2020): the score of class c over a pixel set M is
`y_c = sum_{(i,j) in M} logit_c(i, j)`, the same as pytorch-grad-cam's `SemanticSegmentationTarget`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from realitygap.classes import ClassSet
from realitygap.models import forward_logits, normalise


@dataclass
class Target:
    """A semantic class over a region per image: `region` is (N, H, W) bool. `others` are the other
    classes with their regions (an image contains class n where its region is non-empty), used by
    contrastive methods (MinMax-CAM) and by Average Drop of Others."""

    class_index: int
    region: torch.Tensor
    others: list["Target"] = field(default_factory=list)


def build_targets(labels: torch.Tensor, classes: list[int], num_classes: int,
                  box: tuple[int, int, int, int] | None = None) -> list[Target]:
    """Targets for `classes` from a label map (N, H, W); `box` (x0, y0, x1, y1) limits each region."""
    keep = torch.ones_like(labels, dtype=torch.bool)
    if box is not None:
        x0, y0, x1, y1 = box
        keep = torch.zeros_like(keep)
        keep[:, y0:y1, x0:x1] = True
    regions = {c: (labels == c) & keep for c in range(num_classes)}
    return [Target(c, regions[c], [Target(n, regions[n]) for n in range(num_classes) if n != c])
            for c in classes]


def target_score(logits: torch.Tensor, target: Target, index: torch.Tensor | None = None) -> torch.Tensor:
    """Per-row Seg-Grad-CAM score (B,): the class logits summed over the target region. `index` maps
    each row of a perturbed batch to its source image (default: row i is image i)."""
    region = target.region if index is None else target.region[index]
    return (logits[:, target.class_index] * region.to(logits.dtype)).sum(dim=(1, 2))


def target_confidence(logits: torch.Tensor, target: Target, index: torch.Tensor | None = None) -> torch.Tensor:
    """Per-row mean softmax probability of the target class over its region (B,), in [0, 1]."""
    region = (target.region if index is None else target.region[index]).to(logits.dtype)
    prob = logits.softmax(1)[:, target.class_index]
    return (prob * region).sum(dim=(1, 2)) / region.sum(dim=(1, 2)).clamp(min=1)


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


def upsample(maps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of (N, T, h, w) maps to the spatial size of `like`."""
    if maps.shape[-2:] == like.shape[-2:]:
        return maps
    return F.interpolate(maps, size=like.shape[-2:], mode="bilinear", align_corners=False)


class Explainer:
    """Base of attribution methods for segmentation models. Gradients are taken with
    `torch.autograd.grad` for the tensors a method needs only, so weights and their `.grad` never
    change. Options of a method are keyword arguments with defaults, set from params."""

    name = "base"
    options: dict = {}

    def __init__(self, net: nn.Module, target_layer: str | None = None, batch_size: int = 16,
                 seed: int = 0, **options) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ValueError(f"explain method {self.name!r}: unknown options {unknown} "
                             f"(known: {sorted(self.options)})")
        self.net = net.eval()
        self.target_layer = target_layer
        self.batch_size = batch_size
        self.seed = seed
        self.opts = {**self.options, **options}
        self.extras: dict = {}

    def explain(self, images: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        """Maps (N, T, H, W) in [0, 1] for uint8 RGB images (N, H, W, 3) and T targets."""
        x = normalise(self.net, images)
        return normalise_maps(self.attribute(x, targets).float())

    def attribute(self, x: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        """Raw maps (N, T, H, W) for normalised inputs `x`; subclasses implement this."""
        raise NotImplementedError

    def describe(self, maps, regions: dict) -> None:
        """Add region statistics of the maps (N, T, H, W) to `extras`, given the cue regions of the
        explained images (name -> (N, H, W) bool); none by default."""

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable logits of the analysed model."""
        return forward_logits(self.net, x, normalised=True)

    def generator(self, device: torch.device) -> torch.Generator:
        """A seeded random generator, so sampling methods give the same maps for the same seed."""
        return torch.Generator(device=device).manual_seed(self.seed)

    @torch.no_grad()
    def batched_scores(self, inputs: torch.Tensor, index: torch.Tensor, targets: list[Target],
                       objective=target_score) -> torch.Tensor:
        """Scores (B, T) of perturbed inputs (B, 3, H, W) whose rows come from images `index`,
        in chunks of `batch_size`; one forward serves every target."""
        out = []
        for start in range(0, len(inputs), self.batch_size):
            chunk, rows = inputs[start:start + self.batch_size], index[start:start + self.batch_size]
            logits = self.logits(chunk)
            out.append(torch.stack([objective(logits, t, rows) for t in targets], 1))
        return torch.cat(out)


class CAMExplainer(Explainer):
    """Class activation maps at one layer: one forward; per target one backward that stops at the
    layer. A subclass gives the channel weights from activations and gradients (or overrides `cam`)."""

    def attribute(self, x: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        module, side = resolve_layer(self.net, self.target_layer)
        with torch.enable_grad(), LayerCapture(module, side) as capture:
            logits = self.logits(x.detach().requires_grad_(True))
            acts = capture.activation
            cams = torch.stack([F.relu(self.cam(logits, acts, t)).detach() for t in targets], 1)
        return upsample(cams, x)

    def objective(self, logits: torch.Tensor, target: Target) -> torch.Tensor:
        """The per-image score (N,) whose gradients weight the channels."""
        return target_score(logits, target)

    def cam(self, logits: torch.Tensor, acts: torch.Tensor, target: Target) -> torch.Tensor:
        """The map (N, h, w) before ReLU for one target."""
        (grads,) = torch.autograd.grad(self.objective(logits, target).sum(), acts, retain_graph=True)
        return (self.channel_weights(acts, grads) * acts).sum(1)

    def channel_weights(self, acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def explain_targets(net: torch.nn.Module, x: torch.Tensor, truth: np.ndarray, cfg: dict,
                    classes: ClassSet) -> tuple[list, torch.Tensor]:
    """Targets of `cfg["target_classes"]` (names of `classes`) over the truth, the predicted mask or a pixel
    box of the prediction (Seg-Grad-CAM's region of interest); also returns the prediction."""
    with torch.no_grad():
        pred = forward_logits(net, x).argmax(1)
    labels = torch.from_numpy(truth).to(x.device) if cfg["region"] == "truth" else pred
    box = tuple(cfg["box"]) if cfg["region"] == "box" else None
    indices = [classes.index(c, "explain/target_classes") for c in cfg["target_classes"]]
    return build_targets(labels, indices, len(classes), box), pred
