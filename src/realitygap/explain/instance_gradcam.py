"""Grad-CAM for one detected instance of Mask R-CNN: the score is the instance's class probability
from the box head (`head: class`) or the sum of its mask logits for its class from the mask head
(`head: mask`), both computed on the instance's box as the RoI; channel weights are the spatial means
of the score's gradients at the target layer (default: the finest FPN level)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from realitygap.explain.base import LayerCapture, resolve_layer
from realitygap.explain.instance import InstanceExplainer, InstanceTarget, instance_scores


class InstanceGradCAM(InstanceExplainer):
    name = "instance_gradcam"
    options = {"head": "class"}

    def attribute(self, x: torch.Tensor, targets: list[InstanceTarget]) -> torch.Tensor:
        module, side = resolve_layer(self.net, self.target_layer or "neck.fpn_convs.0")
        with torch.enable_grad(), LayerCapture(module, side) as capture:
            feats = self.net.extract_feat(x.detach().requires_grad_(True))
            acts = capture.activation
            scores = instance_scores(self.net, feats, targets, self.opts["head"])
            cams = []
            for k, t in enumerate(targets):
                (grads,) = torch.autograd.grad(scores[k], acts, retain_graph=True)
                weights = grads[t.image].mean(dim=(1, 2), keepdim=True)
                cams.append(F.relu((weights * acts[t.image]).sum(0)).detach())
        cams = torch.stack(cams)[:, None]
        return F.interpolate(cams, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
