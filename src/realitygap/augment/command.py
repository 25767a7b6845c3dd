"""`realitygap augment`."""

from __future__ import annotations

import argparse

from realitygap.cliargs import json_arg

HELP = "Apply an augmentation policy to the training samples of a mix."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", required=True, help="name of the policy in --policies")
    p.add_argument("--policies", type=json_arg, required=True,
                   help="JSON {name: entry}: the policy and the policies it composes")
    p.add_argument("--sources", type=json_arg, required=True, help="JSON list of {dataset, split, fraction}")
    p.add_argument("--copies", type=int, default=1, help="augmented versions per source image")
    p.add_argument("--keep-source", action="store_true", help="keep the unmodified images too")
    p.add_argument("--references", type=json_arg, default=None,
                   help="JSON list of {dataset, split}: unlabeled target-domain images (style transfer)")
    p.add_argument("--diagnosis", help="diagnosis.json of the source model (xai_guided)")
    p.add_argument("--source-model", type=json_arg, default=None,
                   help="JSON {weights, model, size, device} of the source model (xai_guided)")
    p.add_argument("--renderer", type=json_arg, default=None,
                   help="JSON {renderer, render}: a renderer plugin (the render search's) and its render params "
                        "{size, scene, classes, base}: randomise re-renders a user's domain through it")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output dataset folder")


def main(a: argparse.Namespace) -> None:
    from realitygap.augment.stage import policy_context, run_augment
    context = policy_context(a.references, a.diagnosis, a.source_model, a.seed, a.renderer)
    run_augment(a.policy, a.policies, a.sources, a.seed, a.out, copies=a.copies, keep_source=a.keep_source,
                context=context)
