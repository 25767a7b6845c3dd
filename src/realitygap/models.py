"""mmseg models built from params: config dicts, construction and loading of trained weights."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from realitygap.io import InputError
from realitygap.model_configs import ARCHS, ENCDEC_KNOBS, MEAN, STD, model_config, stride  # noqa: F401 (re-exported)

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

    from mmengine.config import ConfigDict

    register_all_modules(init_default_scope=True)
    return MODELS.build(ConfigDict(model_config(model, size, loss or "ce")))   # attribute access, as mmseg's configs


def load_model(weights: str | os.PathLike, model: dict, size: int, device: str = "auto") -> nn.Module:
    """A trained model in eval mode, from the `model.pth` state dict written by `train`."""
    return load_weights(lambda: build_model(model, size), weights, device, "run the train stage first")


def load_weights(build, weights: str | os.PathLike, device: str = "auto", hint: str = "", trust: bool = False) -> nn.Module:
    """The network `build()` makes, with the weights at `weights` (a missing file names `hint`; `trust` loads
    a checkpoint holding more than weights), in eval mode on `device`. Weights that do not fit the network
    are an InputError naming the file."""
    from realitygap.user_models import read_state_dict

    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: trained weights not found ({hint})")
    state = read_state_dict(path, trust)
    net = build()
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise InputError(f"{path}: the weights do not fit the model ({str(err).splitlines()[0]} "
                         f"{' '.join(str(err).split()[1:12])} ...)") from err
    return net.to(resolve_device(device)).eval()


def save_weights(net: nn.Module, path: str | os.PathLike) -> None:
    """A network's state dict on the CPU, written atomically (what `load_model` and its kin read)."""
    from realitygap.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, tmp)


def normalise(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (N, H, W, 3) to the normalised float (N, 3, H, W) the model's preprocessor makes: its
    channel order (a preprocessor without `bgr_to_rgb` reads BGR) and its mean and std."""
    x = images.permute(0, 3, 1, 2).float().to(next(net.parameters()).device)
    pre = getattr(net, "data_preprocessor", None)
    if pre is None or not getattr(pre, "_enable_normalize", False):
        mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std
    if not getattr(pre, "channel_conversion", getattr(pre, "_channel_conversion", True)):   # mmseg's, mmengine's name
        x = x.flip(1)
    return (x - pre.mean.to(x.device).view(1, -1, 1, 1)) / pre.std.to(x.device).view(1, -1, 1, 1)


def forward_logits(net: nn.Module, images: torch.Tensor, normalised: bool = False) -> torch.Tensor:
    """Differentiable logits (N, C, H, W) at input resolution, bypassing mmseg's data structures."""
    x = images if normalised else normalise(net, images)
    if getattr(net, "test_cfg", None) and net.test_cfg.get("mode") == "slide":    # crops, as mmseg infers
        shape = tuple(x.shape[-2:])
        return net.slide_inference(x, [dict(img_shape=shape, ori_shape=shape, pad_shape=shape)] * len(x))
    logits = net.decode_head(net.extract_feat(x))
    if logits.shape[-2:] != x.shape[-2:]:
        logits = nn.functional.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return logits
