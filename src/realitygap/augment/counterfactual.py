"""Counterfactual augmentation (Learn-Explain-Reinforce's reinforce step, for semantic models): a map
generator is trained against the frozen source (`sim`-trained) model so that x' = x + M makes that
model answer the true labels over the pixels where it fails on its own training images, while a
discriminator holds x' to the look of the unlabeled reference (real) images. Labels follow the
target: x' keeps the true mask. Each copy scales M by a strength drawn in [`min_strength`, 1].

The flip rate over the failed regions and the size of M are kept in `summary` (written to the
augmented dataset's manifest)."""

from __future__ import annotations

import albumentations as A
import numpy as np
import torch

from realitygap.augment.base import Policy
from realitygap.counterfactual.training import generator_options
from realitygap.data import Sample
from realitygap.io import read_image, read_mask


class CounterfactualPolicy(Policy):
    name = "counterfactual"
    options = {"feature_layer": "decode_head.conv_seg:input", "min_strength": 0.5, "flip_share": 0.5,
               **generator_options(weights={"adversarial": 0.1})}   # realism weighs more: x' become training images

    def build(self, cfg: dict) -> A.BaseCompose:
        if self.context.model is None or not self.context.references:
            raise ValueError("augment policy 'counterfactual' needs the source model and reference images "
                             "(--source-model, --references)")
        self.maps: dict[str, np.ndarray] = {}
        self.summary: dict = {}
        return A.Compose([])

    def prepare(self, samples: list[Sample]) -> None:
        """Train the generator on all samples and keep each one's map M (grey levels, H x W x 3)."""
        from realitygap.counterfactual import Task, fit, judge
        from realitygap.explain.counterfactual import frozen_model
        from realitygap.models import forward_logits, load_model, normalise

        m = self.context.model
        net = load_model(m["weights"], m["model"], m["size"], m.get("device", "cpu"))
        images = np.stack([read_image(s.image) for s in samples])
        truth = np.stack([read_mask(s.mask, images.shape[1:3], len(self.context.classes)) for s in samples])
        x = normalise(net, torch.from_numpy(images))
        refs = normalise(net, torch.from_numpy(np.stack([read_image(p) for p in self.context.references])))
        with torch.no_grad():
            pred = torch.cat([forward_logits(net, x[i:i + 32], normalised=True).argmax(1) for i in range(0, len(x), 32)])
        target = torch.from_numpy(truth).long().to(x.device)
        task = Task(torch.arange(len(x), device=x.device), target, pred != target, pred)
        model = frozen_model(net, self.cfg["feature_layer"])
        share = float(self.cfg["flip_share"])
        _, pixels, verdict = fit(model, x, task, refs, len(self.context.classes), self.cfg, self.context.seed,
                                 lambda *a: judge(*a, share))
        pixels = pixels.permute(0, 2, 3, 1).cpu().numpy()
        self.maps = {s.id: pixels[i] for i, s in enumerate(samples)}
        failed = task.region.flatten(1).any(1)
        self.summary = {"images": len(samples), "images_with_failures": int(failed.sum()),
                        "failed_pixels_pct": round(100 * task.region.float().mean().item(), 3),
                        "flip_rate_of_failed": round(verdict["flipped"][failed].float().mean().item(), 4)
                        if failed.any() else None,
                        "mean_abs_change": round(float(np.abs(pixels).mean()), 3)}

    def __call__(self, image: np.ndarray, mask: np.ndarray, seed: int,
                 sample: Sample | None = None) -> tuple[np.ndarray, np.ndarray]:
        if sample is None or sample.id not in self.maps:
            raise ValueError("augment policy 'counterfactual': prepare() has no map for this sample")
        from realitygap.counterfactual.training import scaled_copy
        return scaled_copy(image, self.maps[sample.id], self.cfg["min_strength"], seed), mask
