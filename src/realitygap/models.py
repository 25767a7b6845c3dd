"""mmseg models built from params: config dicts, construction and loading of trained weights."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from realitygap import CLASSES

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]
LOSSES = {
    "ce": [dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0)],
    "weighted_ce": [dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0,
                         class_weight=[0.5, 1.0, 3.0])],
    "dice": [dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
             dict(type="DiceLoss", loss_weight=1.0)],
}


def _unet_backbone(channels: int, stages: int, norm: dict) -> dict:
    return dict(type="UNet", in_channels=3, base_channels=channels, num_stages=stages,
                strides=(1,) * stages, enc_num_convs=(2,) * stages, dec_num_convs=(2,) * (stages - 1),
                downsamples=(True,) * (stages - 1), enc_dilations=(1,) * stages,
                dec_dilations=(1,) * (stages - 1), norm_cfg=norm, act_cfg=dict(type="ReLU"),
                upsample_cfg=dict(type="InterpConv"), norm_eval=False)


def _head(arch: str, channels: int, stages: int, norm: dict, loss: list[dict]) -> dict:
    common = dict(in_channels=channels, in_index=stages - 1, channels=channels, dropout_ratio=0.1,
                  num_classes=len(CLASSES), norm_cfg=norm, align_corners=False, loss_decode=loss)
    if arch == "unet":
        return dict(type="FCNHead", num_convs=1, concat_input=False, **common)
    if arch == "unet_aspp":
        return dict(type="ASPPHead", dilations=(1, 2, 4, 6), **common)
    raise ValueError(f"unknown model arch {arch!r} (known: unet, unet_aspp)")


def model_config(model: dict, size: int, loss: str = "ce") -> dict:
    """The mmseg EncoderDecoder config for the model entry `model` of params at `size` pixels."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r} (known: {sorted(LOSSES)})")
    channels = model.get("base_channels", 16)
    stages = model.get("num_stages", 4)
    if size % 2 ** (stages - 1):
        raise ValueError(f"image size {size} must be divisible by 2**(num_stages-1) = {2 ** (stages - 1)}")
    norm = dict(type="BN", requires_grad=True)
    return dict(
        type="EncoderDecoder",
        data_preprocessor=dict(type="SegDataPreProcessor", mean=MEAN, std=STD, bgr_to_rgb=True,
                               pad_val=0, seg_pad_val=255, size=(size, size)),
        backbone=_unet_backbone(channels, stages, norm),
        decode_head=_head(model["arch"], channels, stages, norm, LOSSES[loss]),
        train_cfg=dict(), test_cfg=dict(mode="whole"))


def resolve_device(device: str = "auto") -> torch.device:
    """`auto` is CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda was asked for but no CUDA device is available")
    return torch.device(device)


def build_model(model: dict, size: int, loss: str = "ce") -> nn.Module:
    """Construct an untrained mmseg model from its params entry."""
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    return MODELS.build(model_config(model, size, loss))


def load_model(weights: str | os.PathLike, model: dict, size: int, device: str = "auto") -> nn.Module:
    """A trained model in eval mode, from the `model.pth` state dict written by `train`."""
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: trained weights not found (run the train stage first)")
    net = build_model(model, size)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.to(resolve_device(device)).eval()


def normalise(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (N, H, W, 3) to the normalised float (N, 3, H, W) the model's preprocessor makes."""
    x = images.permute(0, 3, 1, 2).float().to(next(net.parameters()).device)
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def forward_logits(net: nn.Module, images: torch.Tensor, normalised: bool = False) -> torch.Tensor:
    """Differentiable logits (N, C, H, W) at input resolution, bypassing mmseg's data structures."""
    x = images if normalised else normalise(net, images)
    logits = net.decode_head(net.extract_feat(x))
    if logits.shape[-2:] != x.shape[-2:]:
        logits = nn.functional.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return logits
