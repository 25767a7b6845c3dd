"""`realitygap experiments`: `evaluate`, `probe` and `report` actions of the ablation study."""

from __future__ import annotations

import argparse

from realitygap.cliargs import actions, json_arg, model_args

HELP = ("Ablations: `evaluate` scores a variant model on its training images, each test split and each group; "
        "`probe` runs the spurious-correlation probe on one model; `report` writes the ablation and probe tables.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = actions(p)
    a = sub.add_parser("evaluate", help="a variant model's scores on its training images, test splits, groups")
    model_args(a)
    a.add_argument("--params", type=json_arg, required=True, help="JSON {groups, min_group_images}")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--sources", type=json_arg, required=True, help="JSON training sources of the model's mix")
    a.add_argument("--test", type=json_arg, required=True, help="JSON {domain: [dataset, split file]}")
    a.add_argument("--out", required=True, help="JSON file")
    a = sub.add_parser("probe", help="the spurious-correlation probe on one model")
    model_args(a)
    a.add_argument("--params", type=json_arg, required=True, help="JSON {method, explain, num_images}")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--strength", type=float, required=True, help="the cue-seam correlation the model was trained at")
    a.add_argument("--correlated", required=True, help="test dataset with the training correlation")
    a.add_argument("--broken", required=True, help="test dataset with every cue on its decoy band")
    a.add_argument("--beside", required=True, help="test dataset with every cue beside its seam (attribution on the cue)")
    a.add_argument("--out", required=True, help="JSON file")
    a = sub.add_parser("report", help="the ablation and probe tables")
    a.add_argument("--params", type=json_arg, required=True,
                   help="JSON {source_mix, target_mix, source_domains, target_domains}")
    a.add_argument("--scores", nargs="*", default=[], help="<variant>/<seed>/<mix>/scores.json files")
    a.add_argument("--probes", nargs="*", default=[], help="probe JSON files")
    a.add_argument("--out", required=True, help="folder")


def main(a: argparse.Namespace) -> None:
    if a.action == "evaluate":
        from realitygap.experiments.evaluate import run_evaluate
        run_evaluate(a.weights, a.model, a.size, a.sources, a.test, a.params["groups"],
                     a.params["min_group_images"], a.seed, a.out, device=a.device)
    elif a.action == "probe":
        from realitygap.experiments.probe import run_probe
        run_probe(a.weights, a.model, a.size, a.strength, a.correlated, a.broken, a.beside, a.params["method"],
                  a.params["explain"], a.params["num_images"], a.seed, a.out, device=a.device)
    else:
        from realitygap.chapters.experiments import run_report
        run_report(a.scores, a.probes, a.params["source_mix"], a.params["target_mix"], a.params["source_domains"],
                   a.params["target_domains"], a.out)
