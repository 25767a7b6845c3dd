"""Augmentation policies for synthetic training data, one file per policy, found by name."""

from realitygap.augment.base import Policy
from realitygap.augment.camera import CameraEffects

POLICIES: dict[str, type[Policy]] = {cls.name: cls for cls in (CameraEffects,)}


def build_policy(name: str, cfg: dict) -> Policy:
    """The policy registered as `cfg.get('type', name)`, built from its params."""
    kind = cfg.get("type", name)
    if kind not in POLICIES:
        raise ValueError(f"augment: unknown policy {kind!r} (known: {sorted(POLICIES)})")
    return POLICIES[kind]({k: v for k, v in cfg.items() if k != "type"})


__all__ = ["POLICIES", "Policy", "build_policy"]
