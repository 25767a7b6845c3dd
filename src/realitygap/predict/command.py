"""`realitygap predict`."""

from __future__ import annotations

import argparse

from realitygap.cliargs import model_args

HELP = "Predict the test split of a dataset with a trained model."


def add_arguments(p: argparse.ArgumentParser) -> None:
    model_args(p)
    p.add_argument("--dataset", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--out", required=True, help="predictions (.npz)")


def main(a: argparse.Namespace) -> None:
    from realitygap.predict import run_predict
    run_predict(a.weights, a.model, a.size, a.dataset, a.split, a.out, device=a.device)
