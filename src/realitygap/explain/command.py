"""`realitygap explain`."""

from __future__ import annotations

import argparse

from realitygap.cliargs import json_arg, model_args

HELP = "Attribution maps of a trained model on a fixed sample of test images."


def add_arguments(p: argparse.ArgumentParser) -> None:
    model_args(p)
    p.add_argument("--method", required=True)
    p.add_argument("--params", type=json_arg, required=True, help="JSON explain section of params")
    p.add_argument("--datasets", type=json_arg, required=True, help="JSON {domain: [dataset, split]}")
    p.add_argument("--seed", type=int, default=0, help="seed of sampling methods (SmoothGrad, RISE, KernelSHAP)")
    p.add_argument("--out", required=True, help="output folder")


def main(a: argparse.Namespace) -> None:
    from realitygap.explain.stage import run_explain
    run_explain(a.weights, a.model, a.size, a.method, a.params, a.datasets, a.out, device=a.device, seed=a.seed)
