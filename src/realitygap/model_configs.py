"""mmseg model configs built from a params model entry: pure dicts, no torch, so that validating params (the
ablation grid's variants) costs no heavy import."""

from __future__ import annotations

from realitygap.io import InputError
from realitygap.losses import loss_config
from realitygap.user_models import is_user_model, user_model_config

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
    head = dict(dropout_ratio=0.1, num_classes=model["num_classes"], norm_cfg=norm, align_corners=False, loss_decode=loss)
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


def stride(model: dict) -> int:
    """The factor the image size must be divisible by (a user's config pads its inputs itself: 1)."""
    if is_user_model(model):
        return 1
    if model["arch"] in ("fcn", "deeplabv3plus"):
        return 8
    if model["arch"] == "segformer":
        return 32
    return 2 ** (model.get("num_stages", 4) - 1)


def model_config(model: dict, size: int, loss: str | list | None = None, class_weights: list[float] | None = None) -> dict:
    """The mmseg EncoderDecoder config for the model entry `model` of params at `size` pixels, with
    `model["num_classes"]` outputs (the workflow adds the task's class count to the entry). The loss is
    `loss`, else the entry's own `loss`, else cross-entropy; `class_weights` resolve `frequency` weights."""
    if not isinstance(model.get("num_classes"), int) or model["num_classes"] < 2:
        raise InputError(f"model entry {model}: `num_classes` (the number of classes, at least 2) is missing")
    if is_user_model(model):      # the user's own config: its own heads, losses and preprocessing
        return user_model_config(model)
    if size % stride(model):
        raise ValueError(f"image size {size} must be divisible by {stride(model)} for model {model}")
    if model.get("norm", True) is False and model["arch"] not in ("unet", "encdec"):
        raise ValueError(f"norm: false is supported by the unet and encdec archs, not {model['arch']!r}")
    norm = dict(type="BN", requires_grad=True) if model.get("norm", True) else None
    losses = loss_config(loss or model.get("loss", "ce"), class_weights)
    for term in losses:
        if len(term.get("class_weight", ())) not in (0, model["num_classes"]):
            raise InputError(f"loss {loss or model.get('loss')}: {len(term['class_weight'])} class weights for "
                             f"{model['num_classes']} classes (give one weight per class in train/loss)")
    backbone, head = _backbone_and_head(model, norm, losses)
    return dict(
        type="EncoderDecoder",
        data_preprocessor=dict(type="SegDataPreProcessor", mean=MEAN, std=STD, bgr_to_rgb=True,
                               pad_val=0, seg_pad_val=255, size=(size, size)),
        backbone=backbone, decode_head=head, train_cfg=dict(), test_cfg=inference_config(model))


def inference_config(model: dict) -> dict:
    """mmseg's `test_cfg` of a model entry's `inference`: the whole image at once, or `slide` over crops."""
    inference = model.get("inference", {"mode": "whole"})
    if inference["mode"] == "whole":
        return dict(mode="whole")
    return dict(mode="slide", crop_size=tuple(inference["crop"]), stride=tuple(inference["stride"]))
