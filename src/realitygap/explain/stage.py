"""`realitygap explain`: attribution maps of one model by one method on a fixed sample of test
images of each explained domain, saved as arrays with their metadata and as PNG overlays."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from realitygap.classes import common_classes
from realitygap.cues import cue_regions
from realitygap.data import load_samples
from realitygap.explain import explain_targets, make_explainer
from realitygap.explain.overlay import overlay, overlay_path
from realitygap.inference import load_batch
from realitygap.io import atomic_dir, save_npz, write_json, write_png
from realitygap.models import load_model


def explained_samples(datasets: dict[str, tuple[str, str]], num_images: int) -> list[tuple[str, object]]:
    """The first `num_images` test samples (by id) of each domain: the same images for every model."""
    chosen = []
    for domain, (dataset, split) in datasets.items():
        samples = sorted(load_samples(dataset, split, "test"), key=lambda s: s.id)[:num_images]
        chosen += [(domain, s) for s in samples]
    return chosen


def save_extras(tmp: Path, extras: dict) -> dict:
    """Write layer feature maps to `features.npz` and a method's other arrays to `arrays.npz`; return
    the JSON-able rest for the metadata."""
    features = extras.pop("features", {})
    if features:
        save_npz(tmp / "features.npz", **{k.replace(".", "__"): v.numpy().astype(np.float16)
                                           for k, v in features.items()})
    arrays = extras.pop("arrays", {})
    if arrays:
        save_npz(tmp / "arrays.npz", **arrays)
    return extras


def run_explain(weights: str, model: dict, size: int, method: str, cfg: dict,
                datasets: dict[str, tuple[str, str]], out: str | os.PathLike, device: str = "auto",
                seed: int = 0) -> dict:
    """Explain `cfg["target_classes"]` with `method` and write `maps.npz`, `meta.json`, overlays."""
    net = load_model(weights, model, size, device)
    explainer = make_explainer(net, method, cfg, seed)
    chosen = explained_samples(datasets, cfg["num_images"])
    classes = common_classes([dataset for dataset, _ in datasets.values()])
    images, truth = load_batch([s for _, s in chosen], len(classes), common_size=True)
    x = torch.from_numpy(images).to(next(net.parameters()).device)
    targets, pred = explain_targets(net, x, truth, cfg, classes)
    started = time.perf_counter()
    maps = explainer.explain(x, targets).cpu().numpy().astype(np.float32)
    elapsed = time.perf_counter() - started
    explainer.describe(maps, cue_regions([s for _, s in chosen], truth, classes))
    out = Path(out)
    with atomic_dir(out) as tmp:
        save_npz(tmp / "maps.npz", maps=maps.astype(np.float16), ids=np.array([s.id for _, s in chosen]),
                 domains=np.array([d for d, _ in chosen]), truth=truth, pred=pred.cpu().numpy().astype(np.uint8))
        write_json(tmp / "meta.json", {
            "method": method, "options": explainer.opts, "target_layer": cfg["target_layer"],
            "region": cfg["region"], "box": cfg.get("box"), "seed": seed,
            "classes": [classes.names[t.class_index] for t in targets], "class_set": classes.to_json(), "ids": [s.id for _, s in chosen],
            "domains": [d for d, _ in chosen], "shape": list(maps.shape),
            "empty_regions": int(sum(int(not t.region[i].any()) for t in targets for i in range(len(chosen)))),
            "seconds": round(elapsed, 3), "maps_per_second": round(maps.shape[0] * maps.shape[1] / elapsed, 2),
            **save_extras(tmp, explainer.extras),
        })
        for i, (domain, sample) in enumerate(chosen):
            for j, t in enumerate(targets):
                write_png(overlay_path(tmp, domain, sample.id, classes.names[t.class_index]),
                          overlay(images[i], maps[i, j], truth[i] == t.class_index))
    return {"images": len(chosen), "targets": len(targets), "seconds": elapsed}
