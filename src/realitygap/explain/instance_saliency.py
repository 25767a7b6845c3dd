"""Gradient saliency of one detected instance of Mask R-CNN: the absolute gradient of the instance's
class probability (`head: class`) or mask logits (`head: mask`) on its box, with respect to the
input pixels, maximum over colour channels."""

from __future__ import annotations

import torch

from realitygap.explain.instance import InstanceExplainer, InstanceTarget, instance_scores


class InstanceSaliency(InstanceExplainer):
    name = "instance_saliency"
    options = {"head": "class"}

    def attribute(self, x: torch.Tensor, targets: list[InstanceTarget]) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            scores = instance_scores(self.net, self.net.extract_feat(x), targets, self.opts["head"])
            maps = [torch.autograd.grad(scores[k], x, retain_graph=True)[0][t.image].abs().amax(0)
                    for k, t in enumerate(targets)]
        return torch.stack(maps)
