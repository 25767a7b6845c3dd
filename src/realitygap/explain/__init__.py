"""Attribution methods for segmentation models, one file per method, found by name."""

from realitygap.explain.base import Explainer, Target, normalise_maps, target_score
from realitygap.explain.gradcam import GradCAM
from realitygap.explain.saliency import Saliency

METHODS: dict[str, type[Explainer]] = {cls.name: cls for cls in (GradCAM, Saliency)}

__all__ = ["METHODS", "Explainer", "Target", "GradCAM", "Saliency", "normalise_maps", "target_score"]
