"""Score-CAM (Wang et al., CVPR-W 2020): each channel of the target layer, upsampled and scaled to
[0, 1], masks the input; the target's score on the masked input, softmaxed over channels, weighs the
channels. Gradient-free. The masked forwards are shared by every target of an image (pytorch-grad-cam
repeats them per target), batched over images and channels."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from realitygap.explain.base import Explainer, LayerCapture, Target, resolve_layer, upsample


class ScoreCAM(Explainer):
    name = "scorecam"

    def attribute(self, x: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        module, side = resolve_layer(self.net, self.target_layer)
        with torch.no_grad(), LayerCapture(module, side) as capture:
            self.logits(x)
            acts = capture.activation.detach()
        n, k = acts.shape[:2]
        masks = F.interpolate(acts, size=x.shape[-2:], mode="bilinear", align_corners=True)
        lo = masks.flatten(2).min(-1).values[..., None, None]
        hi = masks.flatten(2).max(-1).values[..., None, None]
        masks = (masks - lo) / (hi - lo + 1e-8)
        masked = (x[:, None] * masks[:, :, None]).flatten(0, 1)
        index = torch.arange(n, device=x.device).repeat_interleave(k)
        scores = self.batched_scores(masked, index, targets).view(n, k, len(targets))
        weights = scores.softmax(dim=1)
        cams = torch.relu(torch.einsum("nkt,nkhw->nthw", weights, acts))
        return upsample(cams, x)
