"""`realitygap frontier`."""

from __future__ import annotations

import argparse

from realitygap.cliargs import json_arg, training_args

HELP = ("Generative frontier explorer: a VAE and a domain classifier on both domains, latent walks from source "
        "to target test images through both models, and a WGAN-GP with the domain classifier in the loop.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--datasets", type=json_arg, required=True, help="JSON {source: [dataset, split], target: [...]}")
    p.add_argument("--weights", type=json_arg, required=True,
                   help="JSON {mix: model.pth} of the params' source_mix and target_mix")
    training_args(p, "JSON model entry of the segmentation models", "JSON frontier section of params")
    p.add_argument("--out", required=True, help="output folder")


def main(a: argparse.Namespace) -> None:
    from realitygap.frontier.stage import run_frontier
    run_frontier(a.datasets, a.weights, a.model, a.size, a.params, a.out, device=a.device, seed=a.seed)
