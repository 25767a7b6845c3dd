"""How close each training set looks to real images: FID, KID and Inception Score computed on the
features of our own trained segmentation model, since no Inception weights can be downloaded here.
The numbers are therefore not comparable with published (Inception) FIDs; the report says so.

- features: global-average-pooled activations of `layers` of the model (the `real`-trained primary
  model by default), concatenated;
- FID = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) (Heusel et al., 2017);
- KID: unbiased MMD^2 with the kernel (x.y / d + 1)^3, mean and std over `kid_subsets` random subsets
  of `kid_subset_size` images of each set (Binkowski et al., 2018);
- IS = exp(E_x KL(p(y|x) || p(y))), p(y|x) the image's mean pixel class probability, over `is_splits`.
Features of every image are computed once and serve all three metrics and every set."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch
from scipy import linalg
from torch import nn

from realitygap.data import load_samples
from realitygap.explain.base import LayerCapture, resolve_layer
from realitygap.io import InputError, read_image, read_json, write_json
from realitygap.models import forward_logits, load_model
from realitygap.progress import progress


class ModelFeatures(nn.Module):
    """uint8 images (N, 3, H, W), torchmetrics' convention, to pooled features (N, D) of `layers`;
    `class_log_probs` gives log p(y|x) (N, C), the log of the mean pixel class probability."""

    def __init__(self, net: nn.Module, layers: list[str]) -> None:
        super().__init__()
        self.net, self.layers = net.eval(), layers

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = images.permute(0, 2, 3, 1).to(next(self.net.parameters()).device)
        with torch.no_grad(), ExitStack() as stack:
            captures = [stack.enter_context(LayerCapture(*resolve_layer(self.net, spec))) for spec in self.layers]
            logits = forward_logits(self.net, x)
        pooled = torch.cat([c.activation.float().mean((2, 3)) for c in captures], 1)
        return pooled, logits.softmax(1).mean((2, 3)).clamp(min=1e-12).log()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self._run(images)[0].double()

    def class_log_probs(self, images: torch.Tensor) -> torch.Tensor:
        return self._run(images)[1].double()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID between feature sets (N, D) and (M, D)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def _mmd2_unbiased(a: np.ndarray, b: np.ndarray) -> float:
    d = a.shape[1]
    k_aa, k_bb, k_ab = ((a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3)
    m = len(a)
    return float((k_aa.sum() - np.trace(k_aa) + k_bb.sum() - np.trace(k_bb)) / (m * (m - 1)) - 2 * k_ab.mean())


def kernel_distance(a: np.ndarray, b: np.ndarray, subsets: int, subset_size: int, seed: int = 0) -> tuple[float, float]:
    """KID (mean, std over subsets) between feature sets; `subset_size` is capped by the smaller set."""
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise InputError(f"KID needs at least 2 images per set, got {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    values = [_mmd2_unbiased(a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


def inception_score(log_probs: np.ndarray, splits: int) -> tuple[float, float]:
    """IS (mean, std over splits, in order) from log class probabilities (N, C)."""
    scores = []
    for part in np.array_split(log_probs, min(splits, len(log_probs))):
        p = np.exp(part)
        marginal = np.log(p.mean(0, keepdims=True))
        scores.append(float(np.exp((p * (part - marginal)).sum(1).mean())))
    return float(np.mean(scores)), float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0


def set_features(extractor: ModelFeatures, paths: list, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features and class log-probabilities of the images at `paths`."""
    if not paths:
        raise InputError("image quality: an image set is empty")
    feats, logp = [], []
    for start in progress(range(0, len(paths), batch_size), desc="image quality features"):
        batch = torch.from_numpy(np.stack([read_image(p) for p in paths[start:start + batch_size]])).permute(0, 3, 1, 2)
        feats.append(extractor(batch).cpu().numpy())
        logp.append(extractor.class_log_probs(batch).cpu().numpy())
    return np.concatenate(feats), np.concatenate(logp)


def quality_of(reference: np.ndarray, features: np.ndarray, log_probs: np.ndarray, cfg: dict, seed: int) -> dict:
    """FID, KID and IS of one image set against the reference features."""
    kid, kid_std = kernel_distance(reference, features, cfg["kid_subsets"], cfg["kid_subset_size"], seed)
    score, score_std = inception_score(log_probs, cfg["is_splits"])
    return {"fid": round(frechet_distance(reference, features), 4), "kid": round(kid, 6), "kid_std": round(kid_std, 6),
            "is": round(score, 4), "is_std": round(score_std, 4), "images": len(features)}


def image_sets(sets: dict[str, dict]) -> dict[str, list]:
    """Image paths per named set: {"dataset", "split", "subset"} picks a split's subset (default
    train), or {"dataset", "augmented": true} the augmented copies of an augment output (not the
    source images it kept)."""
    out = {}
    for name, spec in sets.items():
        if spec.get("augmented"):
            entries = read_json(Path(spec["dataset"]) / "manifest.json")["samples"]
            out[name] = [Path(spec["dataset"]) / e["image"] for e in entries if e["id"] != e["scene"]]
        else:
            out[name] = [s.image for s in load_samples(spec["dataset"], spec.get("split"), spec.get("subset", "train"))]
    return out


def run_image_quality(weights: str, model: dict, size: int, reference: dict, sets: dict[str, dict], cfg: dict,
                      out: str | os.PathLike, device: str = "auto", seed: int = 0) -> dict:
    """Write FID / KID / IS of every set against the reference images to `out` (JSON)."""
    extractor = ModelFeatures(load_model(weights, model, size, device), cfg["layers"])
    ref_feats, _ = set_features(extractor, image_sets({"reference": reference})["reference"])
    result = {"features": {"model": str(weights), "layers": cfg["layers"], "dims": int(ref_feats.shape[1]),
                           "note": "our own model's features, not Inception: not comparable with published FIDs"},
              "reference": {"images": len(ref_feats), **{k: v for k, v in reference.items()}}, "sets": {}}
    for name, paths in image_sets(sets).items():
        feats, logp = set_features(extractor, paths)
        result["sets"][name] = quality_of(ref_feats, feats, logp, cfg, seed)
    write_json(out, result)
    return result
