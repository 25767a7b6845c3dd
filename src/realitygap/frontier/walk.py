"""The latent walk from a source-domain image to a target-domain image: decode points on the segment
between the two VAE codes, and record at each step the domain classifier's P(target) and the class
shares the source- and target-trained segmentation models predict.

- frontier: the first step where P(target) reaches 0.5 (the domain classifier's 50/50 crossing);
- breakdown: the first step where the source model's share of `class_name` pixels falls below half
  of its share on the source image itself (not its reconstruction: a VAE that blurs the class away
  breaks the model down at step 0); none when the model sees no such pixel on the source image."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from realitygap.frontier.nets import VAE, DomainClassifier
from realitygap.frontier.train import to_uint8
from realitygap.models import forward_logits


def first_step(values: list[float], test) -> int | None:
    """Index of the first value that passes `test`, or None."""
    return next((i for i, v in enumerate(values) if test(v)), None)


def breakdown_step(shares: list[float], reference: float) -> int | None:
    """The first step whose share is below half the `reference` share; None when that is 0."""
    if reference <= 0:
        return None
    return first_step(shares, lambda v: v < 0.5 * reference)


def as_pixels(images: torch.Tensor, size: int) -> torch.Tensor:
    """Images (N, 3, S, S) in [-1, 1] resized to `size` as uint8 RGB (N, size, size, 3), what the models read."""
    return torch.from_numpy(to_uint8(F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)))


def predict(net: torch.nn.Module, pixels: torch.Tensor) -> np.ndarray:
    """The model's label map (N, H, W) of uint8 images."""
    return forward_logits(net, pixels.to(next(net.parameters()).device)).argmax(1).cpu().numpy().astype(np.uint8)


def class_share(pred: np.ndarray, class_index: int) -> list[float]:
    """Per label map, the share of pixels of the class with label `class_index`."""
    return [round(float(v), 5) for v in (pred == class_index).mean((1, 2))]


@torch.no_grad()
def walk(vae: VAE, classifier: DomainClassifier, models: dict[str, torch.nn.Module], source: torch.Tensor,
         target: torch.Tensor, steps: int, size: int, class_index: int) -> dict:
    """Walk from image `source` to image `target` (each (3, S, S) in [-1, 1]); the segmentation
    `models` (name -> mmseg model) see the decoded frames resized to `size` pixels, and the share of the
    class `class_index` in their predictions is followed."""
    codes = vae.encode(torch.stack([source, target]))[0]
    t = torch.linspace(0, 1, steps, device=codes.device)[:, None]
    frames = vae.decoder((1 - t) * codes[0] + t * codes[1])
    p_target = torch.sigmoid(classifier(frames)).cpu().numpy()
    pixels, ends = as_pixels(frames, size), as_pixels(torch.stack([source, target]), size)
    out = {"t": t[:, 0].cpu().numpy().round(4).tolist(), "p_target": p_target.round(4).tolist(),
           "frames": to_uint8(frames), "predictions": {}, "share": {}, "share_on_ends": {}}
    for name, net in models.items():
        out["predictions"][name] = predict(net, pixels)
        out["share"][name] = class_share(out["predictions"][name], class_index)
        out["share_on_ends"][name] = class_share(predict(net, ends), class_index)
    out["frontier"] = first_step(out["p_target"], lambda v: v >= 0.5)
    return out
