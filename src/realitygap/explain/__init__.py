"""Attribution methods for segmentation models, one file per method, found by name."""

import torch

from realitygap.explain.activations import Activations
from realitygap.explain.drise import DRISE
from realitygap.explain.instance import InstanceExplainer, InstanceTarget, match_instances
from realitygap.explain.instance_counterfactual import InstanceCounterfactual
from realitygap.explain.instance_gradcam import InstanceGradCAM
from realitygap.explain.instance_saliency import InstanceSaliency
from realitygap.explain.base import (CAMExplainer, Explainer, Target, build_targets, explain_targets, normalise_maps,
                                     target_score)
from realitygap.explain.counterfactual import Counterfactual
from realitygap.explain.gradcam import GradCAM
from realitygap.explain.gradcampp import GradCAMPlusPlus
from realitygap.explain.integrated_gradients import IntegratedGradients
from realitygap.explain.kernelshap import KernelSHAP
from realitygap.explain.layercam import LayerCAM
from realitygap.explain.minmax import DMinMaxGradCAM, MinMaxCAM
from realitygap.explain.occlusion import Occlusion
from realitygap.explain.rise import RISE
from realitygap.explain.saliency import Saliency
from realitygap.explain.scorecam import ScoreCAM
from realitygap.explain.smoothgrad import SmoothGrad

METHODS: dict[str, type[Explainer]] = {cls.name: cls for cls in (
    Saliency, SmoothGrad, IntegratedGradients, GradCAM, GradCAMPlusPlus, ScoreCAM, LayerCAM, MinMaxCAM,
    DMinMaxGradCAM, Occlusion, RISE, KernelSHAP, Activations, Counterfactual)}

INSTANCE_METHODS: dict[str, type[InstanceExplainer]] = {cls.name: cls for cls in (
    DRISE, InstanceGradCAM, InstanceSaliency, InstanceCounterfactual)}
"""Methods for detected instances of an mmdet detector (Mask R-CNN)."""


def make_explainer(net: torch.nn.Module, method: str, cfg: dict, seed: int = 0):
    """The named method on `net` with its options from the explain params."""
    if method not in METHODS:
        raise ValueError(f"explain: unknown method {method!r} (known: {sorted(METHODS)})")
    return METHODS[method](net, cfg["target_layer"], batch_size=cfg.get("batch_size", 16), seed=seed,
                           **cfg.get("options", {}).get(method, {}))


__all__ = ["INSTANCE_METHODS", "InstanceTarget", "match_instances", "METHODS", "Explainer", "CAMExplainer", "Target",
           "build_targets", "explain_targets", "make_explainer", "normalise_maps", "target_score"]
