"""The generative frontier explorer: WGAN-GP penalty by hand, the classifier in the loop, the walk's
frontier and breakdown, and the stage's outputs."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from realitygap.frontier.nets import VAE, gradient_penalty
from realitygap.frontier.train import train_wgan_gp
from realitygap.frontier.walk import breakdown_step, first_step

GAN = {"latent": 8, "width": 4, "epochs": 3, "iters_per_epoch": 15, "critic_steps": 1, "gp_weight": 10.0,
       "class_weight": 20.0, "batch_size": 8, "lr": 0.002, "samples": 4, "target": 1.0}


def test_gradient_penalty_of_a_linear_critic_is_its_slope_minus_one_squared():
    w = torch.randn(3 * 4 * 4)

    class Linear(nn.Module):
        def forward(self, x):
            return x.flatten(1) @ w + 1.0

    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    assert gradient_penalty(Linear(), real, fake).item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)


def test_classifier_in_the_loop_pulls_the_generator_toward_its_class():
    class Bright(nn.Module):                  # the "classifier": P(target) rises with the mean pixel value
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.tensor(8.0))

        def forward(self, x):
            return self.scale * x.mean((1, 2, 3))

    dark = torch.full((16, 3, 16, 16), -0.5) + 0.05 * torch.randn(16, 3, 16, 16)
    _, epochs = train_wgan_gp(dark, Bright(), GAN, seed=0)
    assert len(epochs) == 3 and epochs[0]["images"].shape == (4, 16, 16, 3)
    assert np.mean(epochs[-1]["p_target"]) > 0.7                              # the class wins over the dark data
    _, without = train_wgan_gp(dark, Bright(), GAN | {"class_weight": 0.0}, seed=0)
    assert np.mean(without[-1]["p_target"]) < 0.2                             # the critic alone keeps it dark


def test_frontier_and_breakdown_steps():
    assert first_step([0.1, 0.4, 0.5, 0.9], lambda v: v >= 0.5) == 2
    assert first_step([0.1, 0.2], lambda v: v >= 0.5) is None
    assert breakdown_step([0.10, 0.08, 0.049, 0.2], 0.10) == 2
    assert breakdown_step([0.01, 0.1], 0.10) == 0           # the reconstruction already lost it
    assert breakdown_step([0.0, 0.1], 0.0) is None


def test_vae_loss_is_finite_and_its_decoder_keeps_the_range():
    vae = VAE(size=32, width=4, latent=6)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    assert torch.isfinite(vae.loss(x))
    mu, logvar = vae.encode(x)
    out = vae.decoder(mu)
    assert mu.shape == (3, 6) and out.shape == x.shape and out.abs().max() <= 1


def test_frontier_stage_walks_and_writes_its_figures(rendered, small_model, tmp_path):
    from realitygap.frontier.stage import run_frontier
    from realitygap.models import save_weights

    save_weights(small_model, tmp_path / "m.pth")
    cfg = {"source_mix": "sim", "target_mix": "real", "class": "seam", "size": 16, "pairs": 2, "steps": 4,
           "vae": {"latent": 4, "width": 4, "beta": 1.0, "iters": 5, "batch_size": 4, "lr": 0.001},
           "classifier": {"width": 4, "iters": 5, "batch_size": 4, "lr": 0.001},
           "gan": {**{k: v for k, v in GAN.items() if k != "target"}, "towards": "target", "epochs": 2,
                   "iters_per_epoch": 2}}
    datasets = {role: [str(p) for p in rendered[d]] for role, d in (("source", "sim"), ("target", "real"))}
    result = run_frontier(datasets, {"sim": str(tmp_path / "m.pth"), "real": str(tmp_path / "m.pth")},
                          {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 3}, 48, cfg, tmp_path / "out", "cpu")
    saved = json.loads((tmp_path / "out/frontier.json").read_text())
    assert saved["summary"] == result["summary"] and saved["summary"]["pairs"] == 2
    for w in saved["walks"]:
        assert len(w["p_target"]) == 4 and w["t"][0] == 0 and w["t"][-1] == 1
        assert w["frontier"] == first_step(w["p_target"], lambda v: v >= 0.5)
        assert w["breakdown"] == breakdown_step(w["share"]["sim"], w["share_on_ends"]["sim"][0])
    assert len(saved["gan"]) == 2 and 0 <= saved["summary"]["classifier_test_accuracy"] <= 1
    assert saved["summary"]["source_model"] == "sim"
    for name in ("strips.png", "gan_epochs.png", "walks.npz", "vae.pth", "classifier.pth", "generator.pth"):
        assert (tmp_path / "out" / name).is_file()
