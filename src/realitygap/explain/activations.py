"""Layer activations: the feature maps of chosen layers (`layers`, module paths; default the target
layer) and per-channel statistics (mean, standard deviation, share of positive values) over the
explained images. The map is the mean absolute activation of the first layer over channels, the same
for every target: a target-free reference for the other methods."""

from __future__ import annotations

from contextlib import ExitStack

import torch

from realitygap.explain.base import Explainer, LayerCapture, Target, resolve_layer, upsample


def channel_statistics(acts: torch.Tensor) -> dict[str, list[float]]:
    """Per-channel mean, std and positive share of activations (N, K, h, w)."""
    per_channel = acts.transpose(0, 1).flatten(1).float()
    return {"mean": per_channel.mean(1).tolist(), "std": per_channel.std(1).tolist(),
            "positive": (per_channel > 0).float().mean(1).tolist()}


class Activations(Explainer):
    name = "activations"
    options = {"layers": []}

    def attribute(self, x: torch.Tensor, targets: list[Target]) -> torch.Tensor:
        layers = self.opts["layers"] or [self.target_layer]
        with torch.no_grad(), ExitStack() as stack:
            captures = [stack.enter_context(LayerCapture(*resolve_layer(self.net, spec))) for spec in layers]
            self.logits(x)
        acts = {spec: c.activation.detach() for spec, c in zip(layers, captures)}
        self.extras = {"features": {spec: a.cpu() for spec, a in acts.items()},
                       "channel_statistics": {spec: channel_statistics(a) for spec, a in acts.items()}}
        first = acts[layers[0]].abs().mean(1, keepdim=True)
        return upsample(first, x).expand(-1, len(targets), -1, -1)
