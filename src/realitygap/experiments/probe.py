"""The spurious-correlation probe (after the planted-cue experiment of the research behind realitygap).

The renderer's magenta tint (`seam_tint`) is drawn beside a towel's seam, or with probability
`tint_decoy` on a decoy band 2.5 seam widths away from it: a model trained at correlation strength
p = 1 - tint_decoy sees the cue next to seams p of the time. At test time the correlation is broken
(every tint on its decoy band). Reliance on the cue shows as the score drop from the correlated test set
(same strength as training) to the broken one, and as the share of the seam attributions that falls on
the tinted fringe of images where every tint is beside its seam (against the fringe's share of the
towel area, its share by chance).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from realitygap.data import load_samples
from realitygap.experiments.groups import sample_meta
from realitygap.explain import explain_targets, make_explainer
from realitygap.io import InputError, write_json
from realitygap.models import load_model
from realitygap.inference import load_batch
from realitygap.inference import predict_samples
from realitygap.render.domain import seam_fringe
from realitygap.render.raster import RENDER_CLASSES, SEAM, rasterize
from realitygap.render.scene import Scene
from realitygap.segmentation_metrics import segmentation_scores

CUE_CLASS = RENDER_CLASSES.names[SEAM]
"""The class the planted cue lies beside: the probe runs on the builtin renderer's data, in its classes."""


def fringe_masks(dataset: str | os.PathLike, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Seam-fringe masks (where the tint lies beside seams) and towel masks (N, H, W) bool of rendered
    samples, from their scene metadata."""
    samples = {s.id: s for s in load_samples(dataset)}
    bands, towels = [], []
    for sid in ids:
        meta = sample_meta(samples[sid])
        if meta is None:
            raise InputError(f"{dataset}: sample {sid} has no render metadata (the probe needs rendered data)")
        scene = Scene.from_dict(meta["scene"])
        raster = rasterize(scene)
        bands.append(seam_fringe(scene, raster))
        towels.append(raster.owner >= 0)
    return np.stack(bands), np.stack(towels)


def attribution_on_cue(net: torch.nn.Module, dataset: str, method: str, explain_cfg: dict, num_images: int,
                       seed: int) -> dict:
    """Share of the seam attribution mass (the true seam pixels' seam logits) on the tinted seam fringe,
    and the fringe's share of the towel area, over the first `num_images` images of `dataset` (rendered
    with every tint beside its seam)."""
    samples = sorted(load_samples(dataset), key=lambda s: s.id)[:num_images]
    images, truth = load_batch(samples, len(RENDER_CLASSES))
    cfg = explain_cfg | {"region": "truth", "target_classes": [CUE_CLASS]}
    x = torch.from_numpy(images).to(next(net.parameters()).device)
    targets, pred = explain_targets(net, x, truth, cfg, RENDER_CLASSES)
    maps = make_explainer(net, method, cfg, seed).explain(x, targets)[:, 0].cpu().numpy().astype(np.float64)
    band, towel = fringe_masks(dataset, [s.id for s in samples])
    mass = maps.sum()
    share = float((maps * band).sum() / mass) if mass > 0 else 0.0
    area = float(band.sum() / max(towel.sum(), 1))
    return {"method": method, "images": len(samples), "predicted_seam_pixels": int((pred == SEAM).sum()),
            "mass_on_cue": round(share, 4),
            "cue_area_share": round(area, 4), "enrichment": round(share / area, 3) if area else None}


def run_probe(weights: str, model: dict, size: int, strength: float, correlated: str, broken: str, beside: str,
              method: str, explain_cfg: dict, num_images: int, seed: int, out: str | os.PathLike,
              device: str = "auto") -> dict:
    """Score a model trained at correlation `strength` on the correlated and the broken test sets, and
    measure its attribution on the cue on the `beside` test set (every tint beside its seam); write `out`."""
    net = load_model(weights, model, size, device)
    scores = {}
    for name, dataset in (("correlated", correlated), ("broken", broken)):
        pred, truth = predict_samples(net, load_samples(dataset), desc=f"{name} test images")
        scores[name] = segmentation_scores(pred, truth, RENDER_CLASSES.names)
    result = {"strength": strength, "scores": scores,
              "mIoU_drop": round(scores["correlated"]["mIoU"] - scores["broken"]["mIoU"], 2),
              "seam_IoU_drop": round(scores["correlated"]["IoU"][CUE_CLASS] - scores["broken"]["IoU"][CUE_CLASS], 2),
              "attribution": attribution_on_cue(net, beside, method, explain_cfg, num_images, seed)}
    write_json(Path(out), result)
    return result
