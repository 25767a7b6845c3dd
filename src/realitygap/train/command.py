"""`realitygap train`."""

from __future__ import annotations

import argparse

from realitygap.cliargs import json_arg, training_args

HELP = "Train one mmseg model on one training mix (resumes after interruption)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sources", type=json_arg, required=True, help="JSON list of {dataset, split, fraction}")
    p.add_argument("--val-sources", type=json_arg, default=[], help="JSON list of {dataset, split}")
    training_args(p, "JSON model entry of params", "JSON train section of params")
    p.add_argument("--target", type=json_arg, default=None,
                   help="JSON list of {dataset, split}: unlabeled target images of a self-training (UDA) run")
    p.add_argument("--uda", type=json_arg, default=None, help="JSON uda params of a self-training run")
    p.add_argument("--start", default=None, help="model.pth the run starts from")
    p.add_argument("--mix", default="mix")
    p.add_argument("--name", default="model")
    p.add_argument("--out", required=True, help="model folder")


def main(a: argparse.Namespace) -> None:
    from realitygap.train import run_train
    run_train(a.sources, a.val_sources, a.model, a.params, a.size, a.seed, a.out, mix=a.mix, name=a.name,
              device=a.device, target=a.target, uda=a.uda, start=a.start)
