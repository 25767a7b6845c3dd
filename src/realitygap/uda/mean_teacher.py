"""`MeanTeacher`: self-training of any mmseg 1.x segmentor on labelled source and unlabeled target images
(DACS, DAFormer, MIC), as an mmengine model registered in mmseg's MODELS, so a config names it:

    model = dict(type="MeanTeacher", segmentor=<any segmentor config>, alpha=0.99, ...)

Each training step: the teacher becomes the EMA of the student (`ema_alpha`); the student's own loss on the
source batch; the teacher's argmax on the target batch as pseudo-labels, weighted by its confidence; ClassMix of
source onto target (image and label), strongly augmented, learned with those weights; optionally masked-image
consistency (the student on the target with blocks masked out against the teacher's labels of the whole image).
The teacher gets no gradients. Validation, prediction and the saved weights are the student's."""

from __future__ import annotations

import copy

import torch
from mmengine.model import BaseModel
from mmseg.registry import MODELS
from torch.nn import functional as F

import realitygap.architectures  # noqa: F401  (registers our segmentors, so a config may wrap them)
import realitygap.mmseg_losses  # noqa: F401  (registers IgnoreAwareCrossEntropyLoss)
from realitygap.models import forward_logits
from realitygap.uda.mixing import (align_distribution, block_masks, class_mix_masks, class_shares, confidence_weight,
                                   ema_alpha, paste, running_mean, strong_augment, update_teacher)


@MODELS.register_module()
class MeanTeacher(BaseModel):
    """A student segmentor, its EMA teacher, and the self-training step between them."""

    def __init__(self, segmentor: dict, alpha: float = 0.99, pseudo_threshold: float = 0.968,
                 classmix: bool = True, keep_out: tuple[int, ...] = (), strong: dict | None = None,
                 mic: dict | None = None, pseudo_weight: str = "image", align: float | None = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.student = MODELS.build(segmentor)
        self.teacher = copy.deepcopy(self.student)
        self.teacher.requires_grad_(False)
        self.data_preprocessor = self.student.data_preprocessor
        self.alpha, self.pseudo_threshold = alpha, pseudo_threshold
        self.classmix, self.keep_out = classmix, tuple(keep_out)
        self.strong = dict(strong or {})
        self.mic = dict(mic) if mic else None
        if pseudo_weight not in ("image", "pixel"):
            raise ValueError(f"MeanTeacher: pseudo_weight {pseudo_weight!r} is neither 'image' nor 'pixel'")
        self.pseudo_weight = pseudo_weight
        self.align = align               # distribution alignment's running-mean momentum; None: off
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))   # saved, so a resumed run goes on
        classes = self.student.decode_head.num_classes
        self.register_buffer("source_shares", torch.zeros(classes))          # running class shares of the source
        self.register_buffer("target_shares", torch.zeros(classes))          # labels and the teacher's target

    def train(self, mode: bool = True) -> "MeanTeacher":
        """The student trains; the teacher always predicts (eval mode: running statistics, no dropout)."""
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, inputs, data_samples=None, mode: str = "tensor"):
        """The student's forward (validation and prediction)."""
        return self.student(inputs, data_samples, mode)

    def train_step(self, data: dict, optim_wrapper) -> dict:
        """One self-training step on `{"source": batch, "target": batch}` (the pair dataset's)."""
        with optim_wrapper.optim_context(self):
            source = self.data_preprocessor(data["source"], True)
            target = self.data_preprocessor(data["target"], True)
            update_teacher(self.teacher, self.student, ema_alpha(int(self.updates), self.alpha))
            self.updates += 1
            losses = {f"src.{k}": v for k, v in self.student.loss(source["inputs"], source["data_samples"]).items()}
            losses.update(self.target_losses(source, target["inputs"]))
        parsed, log_vars = self.parse_losses(losses)
        optim_wrapper.update_params(parsed)
        return log_vars

    def target_losses(self, source: dict, target: torch.Tensor) -> dict:
        """The losses on the target batch: ClassMix with the teacher's pseudo-labels, and MIC when asked for."""
        ignore = self.student.decode_head.ignore_index
        labels = torch.stack([s.gt_sem_seg.data[0] for s in source["data_samples"]]).long()
        pseudo, weight, confident = self.pseudo_labels(target, labels)
        pixel_weight = weight.view(-1, 1, 1).expand_as(pseudo) if self.pseudo_weight == "image" else confident.float()
        if self.classmix:
            masks = class_mix_masks(labels, ignore, self.keep_out)
            images = paste(masks, source["inputs"], target)
            mixed = paste(masks, labels, pseudo)
            mixed_weight = torch.where(masks, torch.ones_like(pixel_weight), pixel_weight)
        else:
            images, mixed, mixed_weight = target, pseudo, pixel_weight
        pre = self.data_preprocessor
        images = strong_augment(images, pre.mean, pre.std, **self.strong)
        losses = {f"mix.{k}": v for k, v in self.weighted_loss(images, mixed, mixed_weight).items()}
        losses["mix.confidence"] = weight.mean().detach()
        if self.mic:
            keep = block_masks(tuple(pseudo.shape), self.mic["block"], self.mic["ratio"], target.device)
            masked = self.weighted_loss(target * keep, pseudo, pixel_weight)
            losses |= {f"mic.{k}": self.mic.get("weight", 1.0) * v for k, v in masked.items()}
        return losses

    @torch.no_grad()
    def pseudo_labels(self, images: torch.Tensor, source_labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The teacher's argmax (N, H, W) on normalised `images`, each image's confidence weight (N,) and which
        pixels are that confident (N, H, W); with `align`, its probabilities aligned to the source's class shares."""
        probs = forward_logits(self.teacher, images, normalised=True).softmax(1)
        if self.align is not None:
            head = self.student.decode_head
            running_mean(self.source_shares, class_shares(source_labels, head.num_classes, head.ignore_index), self.align)
            running_mean(self.target_shares, probs.mean((0, 2, 3)), self.align)
            probs = align_distribution(probs, self.source_shares, self.target_shares)
        return probs.argmax(1), confidence_weight(probs, self.pseudo_threshold), probs.amax(1) >= self.pseudo_threshold

    def weighted_loss(self, images: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor) -> dict:
        """Cross-entropy of the student's decode head on `images` against `labels`, each pixel's term scaled by
        `weight`, averaged over the labelled pixels. Plain, as DACS and DAFormer's: class weights of the source
        loss would feed a rare class's pseudo-labels back into the student until it predicts little else."""
        head = self.student.decode_head
        logits = head(self.student.extract_feat(images))
        logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=head.align_corners)
        terms = F.cross_entropy(logits, labels, ignore_index=head.ignore_index, reduction="none")
        valid = (labels != head.ignore_index).sum().clamp(min=1)
        return {"loss_ce": (terms * weight).sum() / valid}
