"""A configurable encoder-decoder backbone for the ablation grid, registered in mmseg's model registry.

In the spirit of the VGG-ResNet(a, b, c) and Hourglass(a, b) ablations of the research behind realitygap:
blocks per stage, base width, downsampling by stride or max-pool, residual skips inside blocks and
encoder-decoder skips each on or off, skips merged by sum or concatenation, normalisation on or off,
ReLU / GELU / no activation, dropout. Usable from any mmseg config as `type="ConfigurableEncoderDecoder"`.
Its outputs follow mmseg's UNet: a list from the deepest feature map to the full-resolution one, so a
decode head with `in_index=num_stages - 1` reads the last.
"""

from __future__ import annotations

import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "none": nn.Identity}
DOWNSAMPLES = ("maxpool", "stride")
SKIP_MODES = ("concat", "sum")


def _conv(cin: int, cout: int, stride: int, norm: bool, act: str) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(ACTIVATIONS[act]())
    return nn.Sequential(*layers)


class Block(nn.Module):
    """`convs` 3x3 convolutions, optionally with a residual (identity or 1x1 projection) around them."""

    def __init__(self, cin: int, cout: int, convs: int, stride: int, norm: bool, act: str, residual: bool,
                 dropout: float):
        super().__init__()
        self.body = nn.Sequential(*[_conv(cin if i == 0 else cout, cout, stride if i == 0 else 1, norm, act)
                                    for i in range(convs)])
        self.shortcut = None
        if residual:
            same = cin == cout and stride == 1
            self.shortcut = nn.Identity() if same else nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
        self.dropout = nn.Dropout2d(dropout) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.dropout(out)


def _stage(cin: int, cout: int, blocks: int, convs: int, stride: int, **kw) -> nn.Sequential:
    return nn.Sequential(*[Block(cin if i == 0 else cout, cout, convs, stride if i == 0 else 1, **kw)
                           for i in range(blocks)])


@MODELS.register_module()
class ConfigurableEncoderDecoder(BaseModule):
    """Encoder of `num_stages` stages (width `base_channels * 2**i`), decoder back to full resolution."""

    def __init__(self, in_channels: int = 3, base_channels: int = 16, num_stages: int = 4, blocks: int = 1,
                 convs_per_block: int = 2, downsample: str = "maxpool", residual: bool = False, skips: bool = True,
                 skip_mode: str = "concat", norm: bool = True, act: str = "relu", dropout: float = 0.0,
                 init_cfg=None):
        super().__init__(init_cfg)
        if downsample not in DOWNSAMPLES or skip_mode not in SKIP_MODES or act not in ACTIVATIONS:
            raise ValueError(f"ConfigurableEncoderDecoder: downsample in {DOWNSAMPLES}, skip_mode in {SKIP_MODES}, "
                             f"act in {sorted(ACTIVATIONS)}; got {downsample!r}, {skip_mode!r}, {act!r}")
        kw = dict(norm=norm, act=act, residual=residual, dropout=dropout)
        widths = [base_channels * 2 ** i for i in range(num_stages)]
        self.downsample, self.skips, self.skip_mode = downsample, skips, skip_mode
        self.pool = nn.MaxPool2d(2)
        self.encoder = nn.ModuleList()
        for i, width in enumerate(widths):
            stride = 2 if i and downsample == "stride" else 1
            self.encoder.append(_stage(in_channels if i == 0 else widths[i - 1], width, blocks, convs_per_block,
                                       stride, **kw))
        self.reduce = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for i in reversed(range(num_stages - 1)):
            self.reduce.append(nn.Conv2d(widths[i + 1], widths[i], 1))
            merged = 2 * widths[i] if skips and skip_mode == "concat" else widths[i]
            self.decoder.append(_stage(merged, widths[i], blocks, convs_per_block, 1, **kw))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        for i, stage in enumerate(self.encoder):
            if i and self.downsample == "maxpool":
                x = self.pool(x)
            x = stage(x)
            skips.append(x)
        outs = [x]
        for reduce, stage, skip in zip(self.reduce, self.decoder, reversed(skips[:-1])):
            x = reduce(nn.functional.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False))
            if self.skips:
                x = torch.cat([x, skip], 1) if self.skip_mode == "concat" else x + skip
            x = stage(x)
            outs.append(x)
        return outs
