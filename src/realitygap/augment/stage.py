"""`realitygap augment`: apply a policy to the training samples of a mix, written as a new dataset."""

from __future__ import annotations

import os
from pathlib import Path

from realitygap import CLASSES
from realitygap.augment import build_policy
from realitygap.data import load_samples
from realitygap.io import atomic_dir, read_image, read_mask, write_json, write_png
from realitygap.progress import progress
from realitygap.seeding import derive_seed


def run_augment(policy: str, cfg: dict, sources: list[dict], seed: int, out: str | os.PathLike) -> dict:
    """Augment every training sample of `sources` once with `policy` and write the dataset to `out`."""
    transform = build_policy(policy, cfg)
    samples = [s for src in sources for s in load_samples(src["dataset"], src.get("split"), "train",
                                                          src.get("fraction", 1.0), seed)]
    out = Path(out)
    entries = []
    with atomic_dir(out) as tmp:
        for sample in progress(samples, desc=f"augment {policy}"):
            image = read_image(sample.image)
            mask = read_mask(sample.mask, image.shape[:2], len(CLASSES))
            image, mask = transform(image, mask, derive_seed(seed, "augment", policy, sample.id))
            write_png(tmp / "images" / f"{sample.id}.png", image)
            write_png(tmp / "masks" / f"{sample.id}.png", mask)
            entries.append({"id": sample.id, "scene": sample.id, "image": f"images/{sample.id}.png",
                            "mask": f"masks/{sample.id}.png"})
        write_json(tmp / "manifest.json", {"domain": f"augmented/{policy}", "policy": policy, "params": cfg,
                                           "classes": list(CLASSES), "samples": entries})
    return {"samples": len(entries)}
