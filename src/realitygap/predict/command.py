"""`realitygap predict`."""

from __future__ import annotations

import argparse

from realitygap.cliargs import model_args

HELP = "Predict the test split of one or more datasets with a trained model (loaded once)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    model_args(p)
    p.add_argument("--dataset", nargs="+", required=True, help="dataset folders")
    p.add_argument("--split", nargs="+", required=True, help="their split files, in the same order")
    p.add_argument("--out", nargs="+", required=True, help="their predictions (.npz), in the same order")


def main(a: argparse.Namespace) -> None:
    from realitygap.predict import run_predict
    if not len(a.dataset) == len(a.split) == len(a.out):
        raise SystemExit(f"predict: {len(a.dataset)} datasets, {len(a.split)} splits, {len(a.out)} outputs: "
                         "give one split and one output per dataset")
    run_predict(a.weights, a.model, a.size, a.dataset, a.split, a.out, device=a.device)
