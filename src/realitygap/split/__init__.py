"""Deterministic train/val/test split by scene."""

from realitygap.split.stage import run_split, split_scenes

__all__ = ["run_split", "split_scenes"]
