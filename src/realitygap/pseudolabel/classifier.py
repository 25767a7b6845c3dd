"""The multi-label tag classifier whose class activation maps are the pseudo-label priors: the segmentation
model's backbone with a global-pooling head, trained with binary cross-entropy on image-level tags
through mmengine (mmseg's EncoderDecoder with `TagHead` as decode head).

Training images are the target domain's tagged images, whole, and random crops of labelled domains
(the sim renders) whose tags are read off the crop's mask: a crop without a seam is what teaches the
classifier what a seam is when every target image is tagged with one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.dataset import BaseDataset
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import DATASETS, MODELS, TRANSFORMS
from torch import nn
from torch.nn import functional as F

from realitygap.io import InputError, listed, read_mask, write_json
from realitygap.models import load_weights, model_config, save_weights
from realitygap.classes import ClassSet
from realitygap.tags import tag_matrix, tags_of_mask

CAM_LAYER = "decode_head.features"
"""The layer whose activations weight the classifier's CAMs: the backbone's full-resolution map."""


@MODELS.register_module()
class TagHead(BaseDecodeHead):
    """A 1x1 convolution (`conv_seg`'s weights, one map per tag class) on the selected backbone map
    (passed through `features`, the CAM layer), then global average pooling: class logits (N, C, 1, 1),
    as in CAM; trained with BCE on `tags` of the data samples.

    `kur_alpha`: Kernel Usage Regularisation (David, Pedrini and Dias, VISAPP 2022): the weights used are
    W * alpha * softmax(W) over the kernels of each class, so a class leans on few kernels."""

    def __init__(self, kur_alpha: float | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.kur_alpha = kur_alpha
        self.features = nn.Identity()

    def weight(self) -> torch.Tensor:
        w = self.conv_seg.weight
        return w * self.kur_alpha * w.softmax(dim=1) if self.kur_alpha else w

    def class_maps(self, inputs) -> torch.Tensor:
        """The class activation maps (N, C, h, w) whose spatial means are the logits."""
        return F.conv2d(self.features(self._transform_inputs(inputs)), self.weight(), self.conv_seg.bias)

    def forward(self, inputs) -> torch.Tensor:
        return self.class_maps(inputs).mean(dim=(2, 3), keepdim=True)

    def loss_by_feat(self, seg_logits: torch.Tensor, batch_data_samples) -> dict:
        tags = torch.as_tensor(np.stack([s.metainfo["tags"] for s in batch_data_samples]), device=seg_logits.device)
        return {"loss_tags": F.binary_cross_entropy_with_logits(seg_logits.flatten(1), tags)}


@TRANSFORMS.register_module()
class TagCrop(BaseTransform):
    """Tags of a training image: the given tags of a tagged image (kept whole), or, for a labelled image,
    a random square crop (side a `crop` fraction of the image, resized back) tagged from its mask. Of
    `candidates` random crops, one is kept whose tag set is drawn uniformly from the sets they show, so
    rarer combinations (a towel without its seam) are seen as often as common ones."""

    def __init__(self, classes: dict, crop: tuple[float, float] = (0.1, 0.5), min_pixels: int = 4,
                 candidates: int = 8) -> None:
        self.classes = ClassSet.from_json(classes)
        self.crop, self.min_pixels, self.candidates = crop, min_pixels, candidates

    def _random_crop(self, mask: np.ndarray) -> tuple[tuple[slice, slice], tuple[str, ...]]:
        h, w = mask.shape
        side = max(8, int(round(np.random.uniform(*self.crop) * min(h, w))))
        y, x = np.random.randint(0, h - side + 1), np.random.randint(0, w - side + 1)
        crop = (slice(y, y + side), slice(x, x + side))
        return crop, tuple(tags_of_mask(mask[crop], self.min_pixels, self.classes))

    def transform(self, results: dict) -> dict:
        if results.get("tags") is None:
            mask = read_mask(results["seg_map_path"])
            by_tags = dict(self._random_crop(mask)[::-1] for _ in range(self.candidates))
            tags = sorted(by_tags)[np.random.randint(len(by_tags))]
            h, w = mask.shape
            results["img"] = cv2.resize(results["img"][by_tags[tags]], (w, h), interpolation=cv2.INTER_LINEAR)
            results["tags"] = list(tags)
        results["tags"] = tag_matrix([results["tags"]], self.classes)[0]
        return results


@DATASETS.register_module()
class TaggedImages(BaseDataset):
    """Images with given tags (`{"image", "tags"}`) or with a mask to crop and tag (`{"image", "mask"}`); the
    tag classes come in as `metainfo`."""

    def __init__(self, samples: list[dict] | str, **kwargs) -> None:
        self._samples = listed(samples)
        super().__init__(data_root="", lazy_init=False, serialize_data=False, **kwargs)

    def load_data_list(self) -> list[dict]:
        return [dict(img_path=s["image"], seg_map_path=s.get("mask"), tags=s.get("tags"), seg_fields=[],
                     reduce_zero_label=False, sample_idx=i) for i, s in enumerate(self._samples)]


def classifier_config(model: dict, size: int, head: dict | None = None) -> dict:
    """The segmentation model entry's EncoderDecoder with `TagHead` as head: one output per tag class (every
    class of the entry's `num_classes` but the background)."""
    config = model_config(model, size)
    seg_head = config["decode_head"]
    if model["arch"] not in ("unet", "encdec"):
        raise ValueError(f"pseudolabel: the tag classifier needs a unet or encdec backbone, not {model['arch']!r}")
    config["decode_head"] = dict(type="TagHead", in_channels=seg_head["in_channels"], channels=seg_head["in_channels"],
                                 in_index=seg_head["in_index"], num_classes=model["num_classes"] - 1, dropout_ratio=0.0,
                                 norm_cfg=None, align_corners=False, **(head or {}))
    return config


def build_classifier(model: dict, size: int, head: dict | None = None) -> nn.Module:
    """An untrained tag classifier."""
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    return MODELS.build(classifier_config(model, size, head))


def load_classifier(weights: str | os.PathLike, model: dict, size: int, head: dict | None = None,
                    device: str = "auto") -> nn.Module:
    """A trained tag classifier in eval mode."""
    return load_weights(lambda: build_classifier(model, size, head), weights, device,
                        "run `realitygap pseudolabel classifier`")


def tag_probabilities(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Sigmoid tag probabilities (N, C) of uint8 RGB images (N, H, W, 3)."""
    from realitygap.models import forward_logits

    with torch.no_grad():
        return torch.sigmoid(forward_logits(net, images)[:, :, 0, 0])


def classifier_runner_config(model: dict, cfg: dict, size: int, samples: list[dict], work_dir: Path,
                             seed: int, classes: ClassSet) -> dict:
    """The mmengine config that trains the tag classifier on `samples` (tags and masks of `classes`)."""
    from realitygap.runner import loop_config

    pipeline = [dict(type="LoadImageFromFile"), dict(type="TagCrop", classes=classes.to_json(), crop=tuple(cfg["crop"]),
                                                     min_pixels=cfg["min_pixels"], candidates=cfg["candidates"]),
                dict(type="Resize", scale=(size, size), keep_ratio=False),    # domains of other sizes: one batch
                dict(type="RandomFlip", prob=0.5),
                dict(type="PackSegInputs", meta_keys=("img_path", "ori_shape", "img_shape", "flip", "tags"))]
    return loop_config(cfg, work_dir, seed) | dict(
        default_scope="mmseg",
        model=classifier_config(model, size, cfg.get("head")),
        train_dataloader=dict(batch_size=cfg["batch_size"], num_workers=0, persistent_workers=False,
                              sampler=dict(type="InfiniteSampler", shuffle=True),
                              dataset=dict(type="TaggedImages", samples=samples, pipeline=pipeline,
                                           metainfo=dict(classes=classes.foreground))),
        optim_wrapper=dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=cfg["lr"], weight_decay=cfg["weight_decay"])),
        param_scheduler=[dict(type="PolyLR", eta_min=cfg["lr"] * 0.01, power=0.9, begin=0, end=cfg["iters"],
                              by_epoch=False)],
    )


def train_classifier(model: dict, cfg: dict, size: int, samples: list[dict], out: str | os.PathLike, seed: int,
                     classes: ClassSet, device: str = "auto") -> dict:
    """Train the tag classifier (then, with `cfg["erasing"]`, its second stage: Puzzle-CAM and class-specific
    erasing, `erasing.py`) and write `<out>/model.pth` and `<out>/train.json`."""
    from realitygap.runner import claim_work_dir, run_runner, trained_net

    out = Path(out)
    if not samples:
        raise ValueError("pseudolabel classifier: no training images")
    first = {k: v for k, v in cfg.items() if k != "erasing"}
    work_dir = out / "work_dir"
    claim_work_dir(work_dir, _fingerprint(model, first, size, seed, samples))
    net = trained_net(run_runner(classifier_runner_config(model, first, size, samples, work_dir, seed, classes), device))
    if cfg.get("erasing"):
        net = _train_erasing(net.state_dict(), model, cfg, size, samples, out / "work_dir_erasing", seed + 1, classes,
                             device)
    save_weights(net, out / "model.pth")
    summary = {"model": model, "params": cfg, "samples": len(samples), "tagged": sum(s.get("tags") is not None for s in samples),
               "classes": list(classes.foreground), "seed": seed}
    write_json(out / "train.json", summary)
    return summary


def _fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _train_erasing(state: dict, model: dict, cfg: dict, size: int, samples: list[dict], work_dir: Path, seed: int,
                   classes: ClassSet, device: str) -> nn.Module:
    """The second stage: classifier and ordinary classifier both start from the first stage's weights `state`."""
    from realitygap.model_configs import stride
    from realitygap.pseudolabel import erasing as _erasing  # noqa: F401  (registers ErasingTagClassifier)
    from realitygap.runner import claim_work_dir, initial_weights_hook, run_runner, trained_net

    options = dict(cfg["erasing"])
    iters = options.pop("iters")
    tiles = options.get("puzzle_tiles", 2)
    if options.get("puzzle_weight", 1.0) > 0 and size % (tiles * stride(model)):
        raise InputError(f"pseudolabel/classifier/erasing/puzzle_tiles: {size} px images do not split into {tiles} tiles "
                         f"of a multiple of the model's stride {stride(model)}")
    stage = {k: v for k, v in cfg.items() if k != "erasing"} | {"iters": iters,
                                                              "checkpoint_interval": min(cfg["checkpoint_interval"], iters)}
    config = classifier_runner_config(model, stage, size, samples, work_dir, seed, classes)
    config["model"] = dict(type="ErasingTagClassifier", classifier=config["model"], **options)
    claim_work_dir(work_dir, _fingerprint(model, cfg, size, seed, samples))
    start = {f"{part}.{k}": v for part in ("classifier", "ordinary") for k, v in state.items()}
    runner = run_runner(config, device, hooks=(initial_weights_hook(start, "the first stage's tag classifier"),))
    return trained_net(runner).classifier
