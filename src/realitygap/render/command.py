"""`realitygap render`."""

from __future__ import annotations

import argparse

from realitygap.cliargs import json_arg

HELP = "Render one domain of the embedded benchmark (images, masks, depth, metadata)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--domain", required=True)
    p.add_argument("--params", type=json_arg, required=True, help="JSON: size, count, scene, factors")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--out", required=True, help="output dataset folder")


def main(a: argparse.Namespace) -> None:
    from realitygap.render.stage import run_render
    run_render(a.domain, a.params, a.seed, a.out, jobs=a.jobs)
