"""The counterfactual map generator and its discriminator (after Learn-Explain-Reinforce, Oh, Yoon and
Suk, TPAMI 2023): G reads an image, the frozen analysed model's features of it and a target label
map, and writes an additive map M so that x' = x + M makes the model answer the target; a small
PatchGAN discriminator D judges whether x' still looks like the images it came from."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(min(8, cout), cout), nn.LeakyReLU(0.2))


class MapGenerator(nn.Module):
    """M = max_change * tanh(U-Net(x, features, one-hot target)), in the model's normalised units."""

    def __init__(self, feature_channels: int, num_classes: int, width: int = 32, max_change: float = 1.5) -> None:
        super().__init__()
        self.num_classes, self.max_change = num_classes, max_change
        self.inp = _block(3 + feature_channels + num_classes, width)
        self.down = nn.Sequential(_block(width, 2 * width, stride=2), _block(2 * width, 2 * width))
        self.up = _block(3 * width, width)
        self.out = nn.Conv2d(width, 3, 3, 1, 1)
        nn.init.zeros_(self.out.weight)     # starts at M = 0: the search begins at the image itself
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Map (N, 3, H, W) for normalised images, features (N, K, h, w) and target labels (N, H, W)."""
        feats = F.interpolate(features, size=x.shape[-2:], mode="bilinear", align_corners=False)
        onehot = F.one_hot(target.clamp(0, self.num_classes - 1), self.num_classes).permute(0, 3, 1, 2).to(x.dtype)
        skip = self.inp(torch.cat([x, feats, onehot], 1))
        deep = F.interpolate(self.down(skip), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.max_change * torch.tanh(self.out(self.up(torch.cat([skip, deep], 1))))


class PatchDiscriminator(nn.Module):
    """Realism scores per patch (N, 1, h, w) of normalised images (least-squares GAN targets 1 / 0)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, width, 4, 2, 1), nn.LeakyReLU(0.2), _block(width, 2 * width, stride=2),
                                 nn.Conv2d(2 * width, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
