"""mmdet Mask R-CNN (ResNet + FPN) built from params, or a user's mmdet detector from its config file, and
plain-tensor inference for explanations.

Small-image CPU settings by default (fewer proposals and smaller RoI batches); `standard=True` gives
mmdet's own settings of `mask-rcnn_r50_fpn`."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from realitygap.io import InputError
from realitygap.models import MEAN, STD
from realitygap.user_models import is_user_model, user_model_config

PAD_DIVISOR = 32
"""The data preprocessor pads every batch to a multiple of this (as mmdet's configs do)."""


def maskrcnn_config(depth: int, num_classes: int, standard: bool = False, loss_cls: dict | None = None) -> dict:
    """The mmdet MaskRCNN config for a ResNet-`depth` FPN backbone and `num_classes` categories; `loss_cls` is
    the box head's classification loss (`realitygap.detection_losses.classification_loss`), else cross-entropy."""
    if depth not in (18, 34, 50, 101):
        raise ValueError(f"Mask R-CNN backbone depth {depth} (known: 18, 34, 50, 101)")
    widths = [64, 128, 256, 512] if depth in (18, 34) else [256, 512, 1024, 2048]
    proposals = 1000 if standard else 100
    rcnn_batch = 512 if standard else 64
    norm = dict(type="BN", requires_grad=True)
    box_coder = dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2])
    return dict(
        type="MaskRCNN",
        data_preprocessor=dict(type="DetDataPreprocessor", mean=MEAN, std=STD, bgr_to_rgb=True, pad_mask=True,
                               pad_size_divisor=PAD_DIVISOR),
        backbone=dict(type="ResNet", depth=depth, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=-1,
                      norm_cfg=norm, norm_eval=False, style="pytorch"),
        neck=dict(type="FPN", in_channels=widths, out_channels=256 if standard else 64, num_outs=5),
        rpn_head=dict(
            type="RPNHead", in_channels=256 if standard else 64, feat_channels=256 if standard else 64,
            anchor_generator=dict(type="AnchorGenerator", scales=[8] if standard else [4],
                                  ratios=[0.5, 1.0, 2.0], strides=[4, 8, 16, 32, 64]),
            bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[1.0] * 4),
            loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),
            loss_bbox=dict(type="L1Loss", loss_weight=1.0)),
        roi_head=dict(
            type="StandardRoIHead",
            bbox_roi_extractor=dict(type="SingleRoIExtractor", roi_layer=dict(type="RoIAlign", output_size=7,
                                                                              sampling_ratio=0),
                                    out_channels=256 if standard else 64, featmap_strides=[4, 8, 16, 32]),
            bbox_head=dict(type="Shared2FCBBoxHead", in_channels=256 if standard else 64,
                           fc_out_channels=1024 if standard else 256, roi_feat_size=7, num_classes=num_classes,
                           bbox_coder=box_coder, reg_class_agnostic=False,
                           loss_cls=loss_cls or dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
                           loss_bbox=dict(type="L1Loss", loss_weight=1.0)),
            mask_roi_extractor=dict(type="SingleRoIExtractor", roi_layer=dict(type="RoIAlign", output_size=14,
                                                                              sampling_ratio=0),
                                    out_channels=256 if standard else 64, featmap_strides=[4, 8, 16, 32]),
            mask_head=dict(type="FCNMaskHead", num_convs=4 if standard else 2, in_channels=256 if standard else 64,
                           conv_out_channels=256 if standard else 64, num_classes=num_classes,
                           loss_mask=dict(type="CrossEntropyLoss", use_mask=True, loss_weight=1.0))),
        train_cfg=dict(
            rpn=dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                                   match_low_quality=True, ignore_iof_thr=-1),
                     sampler=dict(type="RandomSampler", num=256, pos_fraction=0.5, neg_pos_ub=-1,
                                  add_gt_as_proposals=False),
                     allowed_border=-1, pos_weight=-1, debug=False),
            rpn_proposal=dict(nms_pre=2 * proposals, max_per_img=proposals, nms=dict(type="nms", iou_threshold=0.7),
                              min_bbox_size=0),
            rcnn=dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                                    match_low_quality=True, ignore_iof_thr=-1),
                      sampler=dict(type="RandomSampler", num=rcnn_batch, pos_fraction=0.25, neg_pos_ub=-1,
                                   add_gt_as_proposals=True),
                      mask_size=28, pos_weight=-1, debug=False)),
        test_cfg=dict(
            rpn=dict(nms_pre=proposals, max_per_img=proposals, nms=dict(type="nms", iou_threshold=0.7),
                     min_bbox_size=0),
            rcnn=dict(score_thr=0.05, nms=dict(type="nms", iou_threshold=0.5), max_per_img=100,
                      mask_thr_binary=0.5)))


def detector_config(model: dict, num_classes: int, loss_cls: dict | None = None) -> dict:
    """The mmdet model config of an `instance/model` entry: our Mask R-CNN (`depth`, `standard`) or a user's
    config file (`config`, see `realitygap.user_models`), whose box head then trains with `loss_cls` when one is
    given (else it keeps its own loss)."""
    if not is_user_model(model):
        return maskrcnn_config(model["depth"], num_classes, model.get("standard", False), loss_cls)
    config = user_model_config(model, num_classes, "instance/categories")
    bbox_head = config.get("roi_head", {}).get("bbox_head")
    if loss_cls is not None and bbox_head is not None:
        for head in bbox_head if isinstance(bbox_head, list) else [bbox_head]:
            head["loss_cls"] = loss_cls
    return config


def build_detector(model: dict, num_classes: int, loss_cls: dict | None = None) -> nn.Module:
    """An untrained mmdet detector of the `instance/model` entry in eval mode; a user's detector must be a
    two-stage one with a mask head (the Mask R-CNN family), as every instance stage reads RoI heads and masks."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import ConfigDict

    import realitygap.detection_losses  # noqa: F401  (registers LDAMLoss)

    register_all_modules(init_default_scope=True)
    config = detector_config(model, num_classes, loss_cls)
    net = MODELS.build(ConfigDict(config)).eval()
    if not getattr(getattr(net, "roi_head", None), "with_mask", False):
        raise InputError(f"{model.get('config', 'instance/model')}: the instance track needs a two-stage detector "
                         f"with a mask head (Mask R-CNN family); {config.get('type')!r} has none")
    return net


def _samples(x: torch.Tensor, shape: tuple[int, int]) -> list:
    from mmdet.structures import DetDataSample

    padded = tuple(x.shape[-2:])
    meta = dict(img_shape=shape, ori_shape=shape, pad_shape=padded, batch_input_shape=padded,
                scale_factor=(1.0, 1.0))
    return [DetDataSample(metainfo=meta) for _ in range(len(x))]


@torch.no_grad()
def detect(net: nn.Module, x: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """Detections of normalised images x (N, 3, H, W): per image `boxes` (K, 4) xyxy, `scores`, `labels`,
    and `masks` (K, H, W) bool when the detector has a mask head. The images are padded as the detector's data
    preprocessor pads them, so the detections are those of mmdet's own test pipeline."""
    shape = tuple(x.shape[-2:])
    # Contiguous: mmcv's CPU RoIAlign reads its feature maps as NCHW, and a channels-last input (an image
    # tensor permuted from HWC) gives channels-last features and silently wrong detections.
    divisor = getattr(getattr(net, "data_preprocessor", None), "pad_size_divisor", PAD_DIVISOR)
    x = F.pad(x, (0, -shape[1] % divisor, 0, -shape[0] % divisor)).contiguous()
    results = net.predict(x, _samples(x, shape), rescale=False)
    return [{"boxes": r.pred_instances.bboxes, "scores": r.pred_instances.scores, "labels": r.pred_instances.labels}
            | ({"masks": r.pred_instances.masks} if "masks" in r.pred_instances else {}) for r in results]


def class_probabilities(net: torch.nn.Module, cls_score: torch.Tensor) -> torch.Tensor:
    """The box head's class probabilities (K, C + 1; background last) from its raw scores, with the
    head's own activation: softmax, or that of a loss with its own score layout (seesaw's C + 2
    channels: class softmax times objectness), as mmdet's `predict_by_feat` computes them."""
    head = net.roi_head.bbox_head
    if getattr(head, "custom_activation", False):
        return head.loss_cls.get_activation(cls_score)
    return cls_score.softmax(-1)


def load_detector(weights: str | os.PathLike, model: dict, categories: list[str], device: str = "auto") -> nn.Module:
    """A trained detector in eval mode, from the `model.pth` written by `instances train` (its box head's
    loss, which decides the head's outputs and activation, is read from the `train.json` beside it)."""
    from realitygap.io import read_json
    from realitygap.models import load_weights

    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: trained weights not found (run `instances train` first)")
    loss_cls = read_json(path.with_name("train.json"))["loss_cls"]
    return load_weights(lambda: build_detector(model, len(categories), loss_cls), path, device)
