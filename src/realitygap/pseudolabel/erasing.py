"""CAM priors for classes that always appear together (a seam always lies on its towel): the tag
classifier's second training stage after seed 001 section 4.2, as an mmengine model over it.

- Puzzle-CAM (Jo and Yu, ICIP 2021): the image is also classified as `puzzle_tiles` x `puzzle_tiles`
  tiles whose class maps, put back together, must classify the image and match the whole image's maps
  (L1 on the tagged classes' rectified maps), so a map cannot rest on one discriminative part.
- OC-CSE (Kweon et al., ICCV 2021): for a random tagged class k of each image, the image is erased where
  the classifier's normalised map of k is high, and an ordinary classifier must then find every tag but
  k. A map of k that misses part of k leaves the ordinary classifier seeing k; one that spills over a
  co-occurring class hides that class too. Both are penalised (`cse_weight`).
- P-NOC (`ordinary: adversarial`): the ordinary classifier is updated too, to find each tag in the image
  with the pixels where the classifier's map is at least `noc_threshold` removed (`noc_weight`), so it
  learns the parts of k that the classifier ignores, which the erasing then has to cover.

The classifier and the ordinary classifier both start from the first stage's tag classifier; the
ordinary one keeps its BatchNorm statistics (eval mode). The saved weights are the classifier's.
"""

from __future__ import annotations

import numpy as np
import torch
from mmengine.model import BaseModel
from mmseg.registry import MODELS
from torch.nn import functional as F


def variant_name(options: dict | None) -> str:
    """The literature's name of a second-stage setting (None: the first stage alone, "vanilla")."""
    if not options:
        return "vanilla"
    puzzle, cse = options["puzzle_weight"] > 0, options["cse_weight"] > 0
    if options["ordinary"] == "adversarial" and cse:
        return "P-NOC" if puzzle else "NOC"
    return {(True, True): "P-OC", (True, False): "Puzzle-CAM", (False, True): "OC-CSE"}.get((puzzle, cse), "vanilla, trained longer")


def class_maps(net: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The tag classifier's class activation maps (N, C, h, w) of normalised inputs."""
    return net.decode_head.class_maps(net.extract_feat(inputs))


def puzzle_maps(net: torch.nn.Module, inputs: torch.Tensor, tiles: int) -> torch.Tensor:
    """Class maps of the `tiles` x `tiles` tiles of each image, classified one by one and put back together."""
    h, w = inputs.shape[-2:]
    if h % tiles or w % tiles:
        raise ValueError(f"puzzle: {h}x{w} images do not split into {tiles}x{tiles} tiles")
    rows = inputs.unflatten(2, (tiles, h // tiles)).unflatten(4, (tiles, w // tiles))      # N, 3, ty, th, tx, tw
    pieces = rows.permute(0, 2, 4, 1, 3, 5).reshape(-1, inputs.shape[1], h // tiles, w // tiles)
    maps = class_maps(net, pieces)
    n, c, ph, pw = len(inputs), maps.shape[1], maps.shape[2], maps.shape[3]
    return maps.view(n, tiles, tiles, c, ph, pw).permute(0, 3, 1, 4, 2, 5).reshape(n, c, tiles * ph, tiles * pw)


def normalised_map(maps: torch.Tensor, classes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Each image's rectified map of its class `classes[i]`, divided by its maximum, at `size`: (N, 1, H, W) in [0, 1]."""
    chosen = F.relu(maps[torch.arange(len(maps)), classes]).unsqueeze(1)
    chosen = chosen / chosen.flatten(1).amax(1).clamp_min(1e-5).view(-1, 1, 1, 1)
    return F.interpolate(chosen, size=size, mode="bilinear", align_corners=False)


def random_tagged_class(tags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One tagged class per image, drawn uniformly (torch's seeded generator), and whether the image has any tag."""
    has = tags.sum(1) > 0
    weights = torch.where(has.unsqueeze(1), tags, torch.ones_like(tags))
    return torch.multinomial(weights, 1).squeeze(1), has


@MODELS.register_module()
class ErasingTagClassifier(BaseModel):
    """The tag classifier trained with Puzzle-CAM, class-specific erasing and (optionally) an adversarial
    ordinary classifier; validation and prediction are the classifier's."""

    def __init__(self, classifier: dict, puzzle_tiles: int = 2, puzzle_weight: float = 1.0, cse_weight: float = 1.0,
                 ordinary: str = "fixed", noc_weight: float = 1.0, noc_threshold: float = 0.4, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if ordinary not in ("fixed", "adversarial"):
            raise ValueError(f"ErasingTagClassifier: ordinary {ordinary!r} is neither 'fixed' nor 'adversarial'")
        self.classifier = MODELS.build(classifier)
        self.ordinary = MODELS.build(classifier)
        self.ordinary.requires_grad_(False)
        self.data_preprocessor = self.classifier.data_preprocessor
        self.puzzle_tiles, self.puzzle_weight, self.cse_weight = puzzle_tiles, puzzle_weight, cse_weight
        self.adversarial, self.noc_weight, self.noc_threshold = ordinary == "adversarial", noc_weight, noc_threshold

    def train(self, mode: bool = True) -> "ErasingTagClassifier":
        """The classifier trains; the ordinary classifier keeps its statistics (eval mode)."""
        super().train(mode)
        self.ordinary.eval()
        return self

    def forward(self, inputs, data_samples=None, mode: str = "tensor"):
        return self.classifier(inputs, data_samples, mode)

    def train_step(self, data: dict, optim_wrapper) -> dict:
        """The classifier's step, then (P-NOC) the ordinary classifier's, each updating only its own weights."""
        with optim_wrapper.optim_context(self):
            batch = self.data_preprocessor(data, True)
            x = batch["inputs"]
            tags = torch.as_tensor(np.stack([s.metainfo["tags"] for s in batch["data_samples"]]), dtype=x.dtype,
                                   device=x.device)
            losses = self.classifier_losses(x, tags)
        parsed, log_vars = self.parse_losses(losses)
        optim_wrapper.update_params(parsed)
        if self.adversarial:
            self.ordinary.requires_grad_(True)
            try:
                with optim_wrapper.optim_context(self):
                    parsed_noc, log_noc = self.parse_losses(self.ordinary_losses(x, tags))
                optim_wrapper.update_params(parsed_noc)
            finally:
                self.ordinary.requires_grad_(False)
            log_vars.update({k: v for k, v in log_noc.items() if k != "loss"})
        return log_vars

    def classifier_losses(self, x: torch.Tensor, tags: torch.Tensor) -> dict:
        """Tag BCE, Puzzle-CAM's re-classification and map matching, and the class-specific erasing loss."""
        maps = class_maps(self.classifier, x)
        losses = {"loss_cls": F.binary_cross_entropy_with_logits(maps.mean((2, 3)), tags)}
        if self.puzzle_weight > 0:
            tiled = puzzle_maps(self.classifier, x, self.puzzle_tiles)
            tiled = F.interpolate(tiled, size=maps.shape[-2:], mode="bilinear", align_corners=False) \
                if tiled.shape[-2:] != maps.shape[-2:] else tiled
            tagged = tags.view(*tags.shape, 1, 1)
            losses["loss_re_cls"] = F.binary_cross_entropy_with_logits(tiled.mean((2, 3)), tags)
            losses["loss_re"] = self.puzzle_weight * (F.relu(maps) * tagged - F.relu(tiled) * tagged).abs().mean()
        if self.cse_weight > 0:
            k, has = random_tagged_class(tags)
            erased = x * (1 - normalised_map(maps, k, tuple(x.shape[-2:])))
            remaining = tags.clone()
            remaining[torch.arange(len(tags)), k] = 0
            logits = class_maps(self.ordinary, erased).mean((2, 3))
            per_image = F.binary_cross_entropy_with_logits(logits, remaining, reduction="none").mean(1)
            losses["loss_cse"] = self.cse_weight * (per_image * has).sum() / has.sum().clamp_min(1)
        return losses

    def ordinary_losses(self, x: torch.Tensor, tags: torch.Tensor) -> dict:
        """P-NOC: the ordinary classifier finds every tag in the whole image and, for a random tagged class k,
        in the image without the pixels the classifier's map of k covers."""
        with torch.no_grad():
            k, has = random_tagged_class(tags)
            covered = normalised_map(class_maps(self.classifier, x), k, tuple(x.shape[-2:])) >= self.noc_threshold
        kept = x * (~covered).to(x.dtype)
        clean = F.binary_cross_entropy_with_logits(class_maps(self.ordinary, x).mean((2, 3)), tags)
        per_image = F.binary_cross_entropy_with_logits(class_maps(self.ordinary, kept).mean((2, 3)), tags,
                                                       reduction="none").mean(1)
        return {"loss_oc": clean, "loss_noc": self.noc_weight * (per_image * has).sum() / has.sum().clamp_min(1)}
