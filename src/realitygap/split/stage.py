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
    """Shuffle the distinct scenes with `seed` and cut them by `fractions`; every split of a fraction above 0
    gets a scene at least, a split of fraction 0 none (a test-only domain: `{train: 0, val: 0, test: 1}`)."""
    unique = sorted(set(scenes))
    wanted = [name for name in SPLITS if fractions[name] > 0]
    if len(unique) < len(wanted):
        raise InputError(f"split: {len(unique)} scenes cannot fill the {len(wanted)} splits {wanted}")
    order = np.random.default_rng(seed).permutation(len(unique))
    shuffled = [unique[i] for i in order]
    n_val = max(1, round(fractions["val"] * len(unique))) if fractions["val"] > 0 else 0
    n_test = max(1, round(fractions["test"] * len(unique))) if fractions["test"] > 0 else 0
    if fractions["train"] == 0:                       # no training split: the rest goes to test (or val)
        n_test = len(unique) - n_val if n_test else 0
        n_val = len(unique) - n_test
    n_train = len(unique) - n_val - n_test
    if fractions["train"] > 0 and n_train < 1:
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
