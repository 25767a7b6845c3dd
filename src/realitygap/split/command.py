"""`realitygap split`."""

from __future__ import annotations

import argparse

from realitygap.cliargs import json_arg

HELP = "Split a dataset into train/val/test by scene."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True)
    p.add_argument("--params", type=json_arg, required=True, help="JSON: {fractions: {train, val, test}}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="split manifest (.json)")


def main(a: argparse.Namespace) -> None:
    from realitygap.split import run_split
    run_split(a.dataset, a.params["fractions"], a.seed, a.out)
