"""The small networks of the generative frontier explorer (after Vicente's classifier-in-the-loop GAN
and VAE report): a convolutional VAE, an image-level domain classifier (sim vs real), and a WGAN-GP
generator and critic. All work on square RGB images at `size` pixels (a multiple of 16), values in
[-1, 1]."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


# 3x3 kernels; the decoder upsamples (nearest) and convolves, which avoids the checkerboard artefacts of
# transposed convolutions.
def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.GroupNorm(min(8, cout), cout), nn.LeakyReLU(0.2))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 3, 1, 1), nn.GroupNorm(min(8, cout), cout),
                         nn.ReLU())


class Encoder(nn.Module):
    """Four stride-2 convolutions and a linear layer to `out` values."""

    def __init__(self, size: int, width: int, out: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(_down(3, width), _down(width, 2 * width), _down(2 * width, 4 * width),
                                   _down(4 * width, 8 * width))
        self.fc = nn.Linear(8 * width * (size // 16) ** 2, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(x).flatten(1))


class Decoder(nn.Module):
    """A linear layer to a (8 width, size/16, size/16) map and four stride-2 transposed convolutions."""

    def __init__(self, size: int, width: int, latent: int) -> None:
        super().__init__()
        self.width, self.side = width, size // 16
        self.fc = nn.Linear(latent, 8 * width * self.side ** 2)
        self.convs = nn.Sequential(_up(8 * width, 4 * width), _up(4 * width, 2 * width), _up(2 * width, width),
                                   nn.Upsample(scale_factor=2), nn.Conv2d(width, 3, 3, 1, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc(z)).view(len(z), 8 * self.width, self.side, self.side)
        return torch.tanh(self.convs(h))


class VAE(nn.Module):
    """Gaussian encoder q(z|x) and decoder; `loss` is the negative ELBO with weight `beta` on the KL."""

    def __init__(self, size: int = 64, width: int = 32, latent: int = 32) -> None:
        super().__init__()
        self.encoder = Encoder(size, width, 2 * latent)
        self.decoder = Decoder(size, width, latent)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)

    def loss(self, x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = F.mse_loss(self.decoder(z), x, reduction="none").flatten(1).sum(1)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        return (recon + beta * kl).mean()


class DomainClassifier(nn.Module):
    """Logit of P(real | image) (N,)."""

    def __init__(self, size: int = 64, width: int = 16) -> None:
        super().__init__()
        self.net = Encoder(size, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


class Generator(nn.Module):
    """WGAN-GP generator: latent (N, latent) to images (N, 3, size, size)."""

    def __init__(self, size: int = 64, width: int = 32, latent: int = 64) -> None:
        super().__init__()
        self.latent = latent
        self.decoder = Decoder(size, width, latent)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


class Critic(nn.Module):
    """WGAN critic (no normalisation across the batch, as the gradient penalty requires): scores (N,)."""

    def __init__(self, size: int = 64, width: int = 32) -> None:
        super().__init__()
        layers, cin = [], 3
        for k in range(4):
            layers += [nn.Conv2d(cin, width * 2 ** k, 3, 2, 1), nn.LeakyReLU(0.2)]
            cin = width * 2 ** k
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Linear(cin * (size // 16) ** 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(x).flatten(1))[:, 0]


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Gulrajani et al. (2017): E[(||grad critic(x_hat)||_2 - 1)^2] at random points between real and fake."""
    alpha = torch.rand(len(real), 1, 1, 1, generator=generator, device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grads,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (grads.flatten(1).norm(dim=1) - 1).pow(2).mean()
