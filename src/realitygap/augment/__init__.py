"""Augmentation policies for synthetic training data, one file per policy, found by name."""

from realitygap.augment.base import Composite, Policy, PolicyContext
from realitygap.augment.baseline import ImageTransformBaseline
from realitygap.augment.camera import CameraEffects
from realitygap.augment.counterfactual import CounterfactualPolicy
from realitygap.augment.randomise import DomainRandomisation
from realitygap.augment.style import StyleTransfer
from realitygap.augment.xai_guided import XAIGuided

POLICIES: dict[str, type[Policy]] = {cls.name: cls for cls in (
    CameraEffects, StyleTransfer, DomainRandomisation, ImageTransformBaseline, XAIGuided, CounterfactualPolicy)}


def build_policy(name: str, policies: dict[str, dict], context: PolicyContext | None = None) -> Policy:
    """The policy `name` of the params' `policies`: its `type` (default: its name) built from the rest
    of its entry, or, for an entry `{"compose": [a, b]}`, the named policies applied in turn."""
    if name not in policies:
        raise ValueError(f"augment: no policy {name!r} in augment.policies (defined: {sorted(policies)})")
    cfg = policies[name]
    if "compose" in cfg:
        return Composite([build_policy(part, {k: v for k, v in policies.items() if k != name}, context)
                          for part in cfg["compose"]])
    kind = cfg.get("type", name)
    if kind not in POLICIES:
        raise ValueError(f"augment: unknown policy type {kind!r} of {name!r} (known: {sorted(POLICIES)})")
    return POLICIES[kind]({k: v for k, v in cfg.items() if k != "type"}, context)


__all__ = ["POLICIES", "Composite", "Policy", "PolicyContext", "build_policy"]
