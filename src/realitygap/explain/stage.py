"""`realitygap explain`: attribution maps of one model by one method on a fixed sample of test
images of each explained domain, saved as arrays with their metadata and as PNG overlays."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from realitygap import CLASSES
from realitygap.data import load_samples
from realitygap.diagnose.regions import cue_regions
from realitygap.explain import METHODS, build_targets
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


def make_explainer(net: torch.nn.Module, method: str, cfg: dict, seed: int = 0):
    """The named method on `net` with its options from the explain params."""
    if method not in METHODS:
        raise ValueError(f"explain: unknown method {method!r} (known: {sorted(METHODS)})")
    return METHODS[method](net, cfg["target_layer"], batch_size=cfg.get("batch_size", 16), seed=seed,
                           **cfg.get("options", {}).get(method, {}))


def explain_targets(net: torch.nn.Module, x: torch.Tensor, truth: np.ndarray, cfg: dict) -> tuple[list, torch.Tensor]:
    """Targets of `cfg["target_classes"]` over the truth, the predicted mask or a pixel box of the
    prediction (Seg-Grad-CAM's region of interest); also returns the prediction."""
    with torch.no_grad():
        pred = forward_logits(net, x).argmax(1)
    labels = torch.from_numpy(truth).to(x.device) if cfg["region"] == "truth" else pred
    box = tuple(cfg["box"]) if cfg["region"] == "box" else None
    classes = [CLASSES.index(c) for c in cfg["target_classes"]]
    return build_targets(labels, classes, len(CLASSES), box), pred


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
    images, truth = load_batch([s for _, s in chosen], len(CLASSES))
    x = torch.from_numpy(images).to(next(net.parameters()).device)
    targets, pred = explain_targets(net, x, truth, cfg)
    started = time.perf_counter()
    maps = explainer.explain(x, targets).cpu().numpy().astype(np.float32)
    elapsed = time.perf_counter() - started
    explainer.describe(maps, cue_regions([s for _, s in chosen], truth))
    out = Path(out)
    with atomic_dir(out) as tmp:
        save_npz(tmp / "maps.npz", maps=maps.astype(np.float16), ids=np.array([s.id for _, s in chosen]),
                 domains=np.array([d for d, _ in chosen]), truth=truth, pred=pred.cpu().numpy().astype(np.uint8))
        write_json(tmp / "meta.json", {
            "method": method, "options": explainer.opts, "target_layer": cfg["target_layer"],
            "region": cfg["region"], "box": cfg.get("box"), "seed": seed,
            "classes": [CLASSES[t.class_index] for t in targets], "ids": [s.id for _, s in chosen],
            "domains": [d for d, _ in chosen], "shape": list(maps.shape),
            "empty_regions": int(sum(int(not t.region[i].any()) for t in targets for i in range(len(chosen)))),
            "seconds": round(elapsed, 3), "maps_per_second": round(maps.shape[0] * maps.shape[1] / elapsed, 2),
            **save_extras(tmp, explainer.extras),
        })
        for i, (domain, sample) in enumerate(chosen):
            for j, t in enumerate(targets):
                write_png(tmp / "overlays" / f"{sample.id}_{CLASSES[t.class_index]}.png",
                          overlay(images[i], maps[i, j], truth[i] == t.class_index))
    return {"images": len(chosen), "targets": len(targets), "seconds": elapsed}
