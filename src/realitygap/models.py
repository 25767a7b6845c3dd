"""mmseg models built from params: config dicts, construction and loading of trained weights."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from realitygap import CLASSES
from realitygap.losses import loss_config

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]
ARCHS = ("unet", "unet_aspp", "encdec", "fcn", "deeplabv3plus", "segformer")
ENCDEC_KNOBS = ("blocks", "convs_per_block", "downsample", "residual", "skips", "skip_mode", "act", "dropout")


def _unet_backbone(channels: int, stages: int, norm: dict | None) -> dict:
    return dict(type="UNet", in_channels=3, base_channels=channels, num_stages=stages,
                strides=(1,) * stages, enc_num_convs=(2,) * stages, dec_num_convs=(2,) * (stages - 1),
                downsamples=(True,) * (stages - 1), enc_dilations=(1,) * stages,
                dec_dilations=(1,) * (stages - 1), norm_cfg=norm, act_cfg=dict(type="ReLU"),
                upsample_cfg=dict(type="InterpConv"), norm_eval=False)


def _resnet(model: dict, norm: dict) -> dict:
    width = model.get("base_channels", 16)
    return dict(type="ResNetV1c", depth=model.get("depth", 18), stem_channels=width, base_channels=width,
                num_stages=4, out_indices=(0, 1, 2, 3), dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
                norm_cfg=norm, norm_eval=False, contract_dilation=True)


def _segformer(model: dict) -> dict:
    return dict(type="MixVisionTransformer", in_channels=3, embed_dims=model.get("base_channels", 16), num_stages=4,
                num_layers=[2, 2, 2, 2], num_heads=[1, 2, 5, 8], patch_sizes=[7, 3, 3, 3], sr_ratios=[8, 4, 2, 1],
                out_indices=(0, 1, 2, 3), mlp_ratio=4, qkv_bias=True, drop_rate=0.0, attn_drop_rate=0.0,
                drop_path_rate=0.1)


def _backbone_and_head(model: dict, norm: dict | None, loss: list[dict]) -> tuple[dict, dict]:
    """The backbone config and the decode head config of the model entry's `arch`."""
    arch, width, stages = model["arch"], model.get("base_channels", 16), model.get("num_stages", 4)
    head = dict(dropout_ratio=0.1, num_classes=len(CLASSES), norm_cfg=norm, align_corners=False, loss_decode=loss)
    if arch in ("unet", "unet_aspp", "encdec"):
        head |= dict(in_channels=width, in_index=stages - 1, channels=width)
        if arch == "encdec":
            knobs = {k: model[k] for k in ENCDEC_KNOBS if k in model}
            backbone = dict(type="ConfigurableEncoderDecoder", base_channels=width, num_stages=stages,
                            norm=norm is not None, **knobs)
        else:
            backbone = _unet_backbone(width, stages, norm)
        if arch == "unet_aspp":
            return backbone, dict(type="ASPPHead", dilations=(1, 2, 4, 6), **head)
        return backbone, dict(type="FCNHead", num_convs=1, concat_input=False, **head)
    if arch in ("fcn", "deeplabv3plus"):
        expansion = 4 if model.get("depth", 18) == 50 else 1
        head |= dict(in_channels=width * 8 * expansion, in_index=3, channels=width * 4)
        if arch == "fcn":
            return _resnet(model, norm), dict(type="FCNHead", num_convs=2, concat_input=True, **head)
        return _resnet(model, norm), dict(type="DepthwiseSeparableASPPHead", dilations=(1, 2, 4, 6),
                                          c1_in_channels=width * expansion, c1_channels=width, **head)
    if arch == "segformer":
        head |= dict(in_channels=[width * h for h in (1, 2, 5, 8)], in_index=[0, 1, 2, 3], channels=width * 4)
        return _segformer(model), dict(type="SegformerHead", **head)
    raise ValueError(f"unknown model arch {arch!r} (known: {', '.join(ARCHS)})")


def _stride(model: dict) -> int:
    """The factor the image size must be divisible by."""
    if model["arch"] in ("fcn", "deeplabv3plus"):
        return 8
    if model["arch"] == "segformer":
        return 32
    return 2 ** (model.get("num_stages", 4) - 1)


def model_config(model: dict, size: int, loss: str | list | None = None, class_weights: list[float] | None = None) -> dict:
    """The mmseg EncoderDecoder config for the model entry `model` of params at `size` pixels. The loss is
    `loss`, else the entry's own `loss`, else cross-entropy; `class_weights` resolve `frequency` weights."""
    if size % _stride(model):
        raise ValueError(f"image size {size} must be divisible by {_stride(model)} for model {model}")
    if model.get("norm", True) is False and model["arch"] not in ("unet", "encdec"):
        raise ValueError(f"norm: false is supported by the unet and encdec archs, not {model['arch']!r}")
    norm = dict(type="BN", requires_grad=True) if model.get("norm", True) else None
    backbone, head = _backbone_and_head(model, norm, loss_config(loss or model.get("loss", "ce"), class_weights))
    return dict(
        type="EncoderDecoder",
        data_preprocessor=dict(type="SegDataPreProcessor", mean=MEAN, std=STD, bgr_to_rgb=True,
                               pad_val=0, seg_pad_val=255, size=(size, size)),
        backbone=backbone, decode_head=head, train_cfg=dict(), test_cfg=dict(mode="whole"))


def resolve_device(device: str = "auto") -> torch.device:
    """`auto` is CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda was asked for but no CUDA device is available")
    return torch.device(device)


def build_model(model: dict, size: int, loss: str | list | None = None) -> nn.Module:
    """Construct an untrained mmseg model from its params entry (the loss defaults to plain cross-entropy:
    a loss changes training, not the model's weights)."""
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    import realitygap.architectures  # noqa: F401  (registers ConfigurableEncoderDecoder)
    import realitygap.mmseg_losses  # noqa: F401  (registers IgnoreAwareCrossEntropyLoss)

    register_all_modules(init_default_scope=True)
    return MODELS.build(model_config(model, size, loss or "ce"))


def load_model(weights: str | os.PathLike, model: dict, size: int, device: str = "auto") -> nn.Module:
    """A trained model in eval mode, from the `model.pth` state dict written by `train`."""
    return load_weights(lambda: build_model(model, size), weights, device, "run the train stage first")


def load_weights(build, weights: str | os.PathLike, device: str = "auto", hint: str = "") -> nn.Module:
    """The network `build()` makes, with the state dict at `weights` (a missing file names `hint`), in
    eval mode on `device`."""
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: trained weights not found ({hint})")
    net = build()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.to(resolve_device(device)).eval()


def save_weights(net: nn.Module, path: str | os.PathLike) -> None:
    """A network's state dict on the CPU, written atomically (what `load_model` and its kin read)."""
    from realitygap.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, tmp)


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
