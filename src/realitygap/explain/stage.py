"""`realitygap explain`: attribution maps of one model by one method on a fixed sample of test
images of each explained domain, saved as arrays with their metadata and as PNG overlays."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from realitygap import CLASSES
from realitygap.data import load_samples
from realitygap.explain import METHODS, Target
from realitygap.io import atomic_dir, save_npz, write_json, write_png
from realitygap.models import forward_logits, load_model
from realitygap.predict import load_batch


def overlay(image: np.ndarray, attribution: np.ndarray, outline: np.ndarray | None = None) -> np.ndarray:
    """RGB image with a [0, 1] map blended in as a heat map, and a mask outline drawn in white."""
    heat = cv2.applyColorMap((attribution * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    out = (0.5 * image + 0.5 * heat).astype(np.uint8)
    if outline is not None and outline.any():
        contours, _ = cv2.findContours(outline.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        out = cv2.drawContours(np.ascontiguousarray(out), contours, -1, (255, 255, 255), 1)
    return out


def explained_samples(datasets: dict[str, tuple[str, str]], num_images: int) -> list[tuple[str, object]]:
    """The first `num_images` test samples (by id) of each domain: the same images for every model."""
    chosen = []
    for domain, (dataset, split) in datasets.items():
        samples = sorted(load_samples(dataset, split, "test"), key=lambda s: s.id)[:num_images]
        chosen += [(domain, s) for s in samples]
    return chosen


def run_explain(weights: str, model: dict, size: int, method: str, cfg: dict,
                datasets: dict[str, tuple[str, str]], out: str | os.PathLike, device: str = "auto") -> dict:
    """Explain `cfg["target_classes"]` with `method` and write `maps.npz`, `meta.json`, overlays."""
    if method not in METHODS:
        raise ValueError(f"explain: unknown method {method!r} (known: {sorted(METHODS)})")
    net = load_model(weights, model, size, device)
    explainer = METHODS[method](net, cfg["target_layer"])
    chosen = explained_samples(datasets, cfg["num_images"])
    images, truth = load_batch([s for _, s in chosen], len(CLASSES))
    x = torch.from_numpy(images).to(next(net.parameters()).device)
    with torch.no_grad():
        pred = forward_logits(net, x).argmax(1)
    region_source = pred if cfg["region"] == "predicted" else torch.from_numpy(truth).to(x.device)
    classes = [CLASSES.index(c) for c in cfg["target_classes"]]
    targets = [Target(c, region_source == c) for c in classes]
    maps = explainer.explain(x, targets).cpu().numpy().astype(np.float32)
    out = Path(out)
    with atomic_dir(out) as tmp:
        save_npz(tmp / "maps.npz", maps=maps.astype(np.float16), ids=np.array([s.id for _, s in chosen]),
                 domains=np.array([d for d, _ in chosen]), truth=truth, pred=pred.cpu().numpy().astype(np.uint8))
        write_json(tmp / "meta.json", {
            "method": method, "target_layer": cfg["target_layer"], "region": cfg["region"],
            "classes": [CLASSES[c] for c in classes], "ids": [s.id for _, s in chosen],
            "domains": [d for d, _ in chosen], "shape": list(maps.shape),
            "empty_regions": int(sum(int(not t.region[i].any()) for t in targets for i in range(len(chosen)))),
        })
        for i, (domain, sample) in enumerate(chosen):
            for j, c in enumerate(classes):
                write_png(tmp / "overlays" / f"{sample.id}_{CLASSES[c]}.png",
                          overlay(images[i], maps[i, j], truth[i] == c))
    return {"images": len(chosen), "targets": len(classes)}
