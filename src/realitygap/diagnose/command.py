"""`realitygap diagnose`."""

from __future__ import annotations

import argparse

from realitygap.cliargs import json_arg

HELP = "Compare the source- and target-trained models' explanations; rank causes."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source-weights", required=True)
    p.add_argument("--target-weights", required=True)
    p.add_argument("--model", type=json_arg, required=True, help="JSON model entry of params")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--explanations", type=json_arg, required=True,
                   help="JSON {method: [source model's explain folder, target model's]}")
    p.add_argument("--datasets", type=json_arg, required=True, help="JSON {domain: dataset folder}")
    p.add_argument("--source-domain", required=True)
    p.add_argument("--target-domain", required=True)
    p.add_argument("--params", type=json_arg, required=True, help="JSON diagnose section of params")
    p.add_argument("--renderer", type=json_arg, default=None,
                   help="JSON {renderer, render}: the renderer (plugin spec) and render params {size, scene, classes} "
                        "that re-render the domains' looks for the factor transplants")
    p.add_argument("--test-sets", type=json_arg, default=None,
                   help="JSON {source: [dataset, split], target: [dataset, split]}: test images for the image-statistics "
                        "transplants (domains no renderer draws)")
    p.add_argument("--train-params", type=json_arg, default=None,
                   help="JSON training loop params (train section): what the fine-tune evidence fine-tunes with")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="diagnosis.json")


def main(a: argparse.Namespace) -> None:
    from realitygap.diagnose import run_diagnose
    run_diagnose(a.source_weights, a.target_weights, a.model, a.size, a.explanations, a.datasets,
                 {"source": a.source_domain, "target": a.target_domain}, a.params, a.out, device=a.device,
                 renderer=a.renderer, test_sets=a.test_sets, seed=a.seed, train_cfg=a.train_params)
