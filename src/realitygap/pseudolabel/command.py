"""`realitygap pseudolabel`: `classifier` and `label` actions."""

from __future__ import annotations

import argparse

from realitygap.cliargs import actions, json_arg, training_args

HELP = ("Pixel labels from image-level tags: `classifier` trains the tag classifier; `label` runs CAM priors -> "
        "dense CRF -> affinity random walk and writes the pseudo-labelled dataset.")


def _target(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, help="the target domain's dataset folder")
    p.add_argument("--split", required=True, help="its split file (the train split is pseudo-labelled)")
    training_args(p, "JSON model entry whose backbone the nets use", "JSON pseudolabel section of params")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = actions(p)
    a = sub.add_parser("classifier", help="train the tag classifier")
    _target(a)
    a.add_argument("--sources", type=json_arg, default=[], help="JSON labelled sources {dataset, split, fraction}")
    a.add_argument("--witness", type=json_arg, help="tags `predicted`: JSON {weights, model, size}")
    a.add_argument("--out", required=True, help="model folder")
    a = sub.add_parser("label", help="CAM priors -> dense CRF -> affinity random walk -> pseudo-labelled dataset")
    _target(a)
    a.add_argument("--classifier", required=True, help="folder written by `pseudolabel classifier`")
    a.add_argument("--results", required=True, help="folder for steps.json, examples.png and the affinity net")
    a.add_argument("--out", required=True, help="pseudo-labelled dataset folder")


def main(a: argparse.Namespace) -> None:
    from realitygap.pseudolabel import stage
    if a.action == "classifier":
        stage.run_classifier(a.dataset, a.split, a.sources, a.model, a.params, a.size, a.seed, a.out, a.device,
                             a.witness)
    else:
        stage.run_label(a.dataset, a.split, a.classifier, a.model, a.params, a.size, a.seed, a.out, a.results,
                        a.device)
