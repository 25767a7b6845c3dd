"""Training loops of the frontier explorer's networks, seeded and with progress lines: the VAE on the
images of both domains, the domain classifier (sim 0, real 1), and the WGAN-GP whose generator is
also pushed toward one class of the domain classifier (the classifier in the loop), keeping a few
samples of a fixed latent batch after every epoch."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from realitygap.frontier.nets import VAE, Critic, DomainClassifier, Generator, gradient_penalty
from realitygap.progress import progress


def _batches(count: int, batch_size: int, iters: int, gen: torch.Generator):
    for _ in range(iters):
        yield torch.randint(0, count, (min(batch_size, count),), generator=gen)


def train_vae(images: torch.Tensor, cfg: dict, seed: int) -> VAE:
    """A VAE on images (N, 3, S, S) in [-1, 1]."""
    torch.manual_seed(seed)
    vae = VAE(images.shape[-1], cfg["width"], cfg["latent"]).to(images.device)
    opt = torch.optim.Adam(vae.parameters(), lr=cfg["lr"])
    gen = torch.Generator().manual_seed(seed)
    for pick in progress(_batches(len(images), cfg["batch_size"], cfg["iters"], gen), total=cfg["iters"], desc="vae"):
        loss = vae.loss(images[pick.to(images.device)], cfg["beta"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return vae.eval()


def train_domain_classifier(images: torch.Tensor, labels: torch.Tensor, cfg: dict, seed: int) -> DomainClassifier:
    """P(real | image) from images (N, 3, S, S) with labels (N,) 0 = source, 1 = target domain."""
    torch.manual_seed(seed)
    net = DomainClassifier(images.shape[-1], cfg["width"]).to(images.device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    gen = torch.Generator().manual_seed(seed + 1)
    for pick in progress(_batches(len(images), cfg["batch_size"], cfg["iters"], gen), total=cfg["iters"],
                         desc="domain classifier"):
        pick = pick.to(images.device)
        loss = F.binary_cross_entropy_with_logits(net(images[pick]), labels[pick].float())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def train_wgan_gp(images: torch.Tensor, classifier: DomainClassifier, cfg: dict, seed: int
                  ) -> tuple[Generator, list[dict]]:
    """WGAN-GP on images (N, 3, S, S); the generator's loss adds `class_weight` x the classifier's
    cross-entropy toward class `target` (1 = the target domain). After each epoch the samples of a fixed
    latent batch and the classifier's probability for them are kept."""
    torch.manual_seed(seed)
    device = images.device
    g = Generator(images.shape[-1], cfg["width"], cfg["latent"]).to(device)
    d = Critic(images.shape[-1], cfg["width"]).to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg["lr"], betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg["lr"], betas=(0.0, 0.9))
    gen = torch.Generator().manual_seed(seed + 2)
    fixed = torch.randn(cfg["samples"], cfg["latent"], generator=gen).to(device)
    target = torch.full((cfg["batch_size"],), float(cfg["target"]), device=device)
    for p in classifier.parameters():
        p.requires_grad_(False)
    epochs = []
    for epoch in progress(range(cfg["epochs"]), desc="wgan-gp epochs"):
        for _ in range(cfg["iters_per_epoch"]):
            for pick in _batches(len(images), cfg["batch_size"], cfg["critic_steps"], gen):
                real = images[pick.to(device)]
                fake = g(torch.randn(len(real), cfg["latent"], generator=gen).to(device)).detach()
                penalty = gradient_penalty(d, real, fake, gen if device.type == "cpu" else None)
                loss_d = d(fake).mean() - d(real).mean() + cfg["gp_weight"] * penalty
                opt_d.zero_grad()
                loss_d.backward()
                opt_d.step()
            fake = g(torch.randn(cfg["batch_size"], cfg["latent"], generator=gen).to(device))
            loss_g = -d(fake).mean() + cfg["class_weight"] * F.binary_cross_entropy_with_logits(
                classifier(fake), target[:len(fake)])
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
        with torch.no_grad():
            samples = g.eval()(fixed)
            epochs.append({"epoch": epoch + 1, "images": to_uint8(samples),
                           "p_target": torch.sigmoid(classifier(samples)).cpu().numpy().round(4).tolist()})
            g.train()
    return g.eval(), epochs


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Images (N, 3, S, S) in [-1, 1] as uint8 RGB (N, S, S, 3)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
