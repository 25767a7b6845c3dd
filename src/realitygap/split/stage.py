"""`realitygap split`: assign whole scenes to train/val/test, deterministically from the seed."""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from realitygap.io import InputError, read_json, write_json
from realitygap.seeding import derive_seed

SPLITS = ("train", "val", "test")


def split_scenes(scenes: list[str], fractions: dict[str, float], seed: int) -> dict[str, list[str]]:
    """Shuffle the distinct scenes with `seed` and cut them by `fractions`; every split gets one."""
    unique = sorted(set(scenes))
    if len(unique) < len(SPLITS):
        raise InputError(f"split: {len(unique)} scenes cannot fill {len(SPLITS)} splits")
    order = np.random.default_rng(seed).permutation(len(unique))
    shuffled = [unique[i] for i in order]
    n_val = max(1, round(fractions["val"] * len(unique)))
    n_test = max(1, round(fractions["test"] * len(unique)))
    n_train = len(unique) - n_val - n_test
    if n_train < 1:
        raise InputError(f"split: fractions {fractions} leave no training scene out of {len(unique)}")
    return {"train": shuffled[:n_train], "val": shuffled[n_train:n_train + n_val],
            "test": shuffled[n_train + n_val:]}


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_split(dataset: str | os.PathLike, fractions: dict[str, float], seed: int,
              out: str | os.PathLike) -> dict:
    """Write the split manifest of the dataset at `dataset` to `out` and return it."""
    dataset = Path(dataset)
    manifest = read_json(dataset / "manifest.json")
    by_scene: dict[str, list[dict]] = defaultdict(list)
    for sample in manifest["samples"]:
        by_scene[sample["scene"]].append(sample)
    scenes = split_scenes(list(by_scene), fractions, derive_seed(seed, "split", manifest["domain"]))
    result = {"domain": manifest["domain"], "dataset": str(dataset), "fractions": fractions}
    for name in SPLITS:
        samples = sorted((s for scene in scenes[name] for s in by_scene[scene]), key=lambda s: s["id"])
        result[name] = [{"id": s["id"], "scene": s["scene"],
                         "sha256": _file_hash(dataset / s["image"])[:16]
                         + (_file_hash(dataset / s["mask"])[:16] if s.get("mask") else "")}   # unlabeled: image only
                        for s in samples]
    write_json(out, result)
    return result
