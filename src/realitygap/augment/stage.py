"""`realitygap augment`: apply a policy to the training samples of a mix, written as a new dataset.

Each source image gets `copies` augmented versions (seeded per image and copy); with `keep_source`
the unmodified image is kept too, so the retrained model sees both."""

from __future__ import annotations

import hashlib

import os
from dataclasses import replace
from pathlib import Path

from realitygap.augment import PolicyContext, build_policy
from realitygap.classes import common_classes
from realitygap.data import source_samples
from realitygap.io import atomic_dir, read_image, read_json, read_mask, write_json, write_png
from realitygap.progress import progress
from realitygap.seeding import derive_seed


def policy_context(references: list[dict] | None = None, diagnosis: str | None = None,
                   source_model: dict | None = None, seed: int = 0, renderer: dict | None = None) -> PolicyContext:
    """What policies may use: reference images (training images of the target domain, labels unused),
    the diagnosis JSON and the source model."""
    refs = [s.image for s in source_samples(references or [], seed)]
    return PolicyContext(references=refs, diagnosis=read_json(diagnosis) if diagnosis else None, model=source_model,
                         renderer=renderer,
                         seed=seed)


def run_augment(policy: str, policies: dict, sources: list[dict], seed: int, out: str | os.PathLike,
                copies: int = 1, keep_source: bool = False, context: PolicyContext | None = None) -> dict:
    """Augment every training sample of `sources` with `policies[policy]` and write the dataset to `out`."""
    classes = common_classes([src["dataset"] for src in sources])
    transform = build_policy(policy, policies, replace(context or PolicyContext(), classes=classes))
    samples = source_samples(sources, seed)
    transform.prepare(samples)
    out = Path(out)
    entries, content = [], hashlib.sha256()
    with atomic_dir(out) as tmp:
        for sample in progress(samples, desc=f"augment {policy}"):
            image = read_image(sample.image)
            mask = read_mask(sample.mask, image.shape[:2], len(classes))
            versions = [(f"{sample.id}", image, mask)] if keep_source else []
            for copy in range(copies):
                aug_image, aug_mask = transform(image, mask, derive_seed(seed, "augment", policy, sample.id, copy), sample)
                versions.append((f"{sample.id}_aug{copy}", aug_image, aug_mask))
            for vid, img, msk in versions:
                content.update(img.tobytes() + msk.tobytes())
                write_png(tmp / "images" / f"{vid}.png", img)
                write_png(tmp / "masks" / f"{vid}.png", msk)
                entries.append({"id": vid, "scene": sample.id, "image": f"images/{vid}.png", "mask": f"masks/{vid}.png"})
        write_json(tmp / "manifest.json", {"domain": f"augmented/{policy}", "policy": policy, "params": policies,
                                           "copies": copies, "keep_source": keep_source, "summary": transform.summary,
                                           "classes": classes.to_json(), "samples": entries,
                                           # what the images are, not only how they were asked for: a policy that
                                           # reads other inputs (a new diagnosis) makes new images, and the
                                           # trainings on them must not resume the old ones (runner.run_fingerprint)
                                           "content_sha256": content.hexdigest()})
    return {"samples": len(entries)}
