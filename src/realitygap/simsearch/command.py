"""`realitygap simsearch`: `worker`, `report` and `render` actions over one render search."""

from __future__ import annotations

import argparse

from realitygap.cliargs import actions, json_arg
from realitygap.io import read_json, write_json

HELP = ("Search the render parameters with Optuna: `worker` runs trials of the shared study, `report` writes "
        "the best look, importances and plots, `render` renders a domain with the best look.")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", type=json_arg, required=True, help="JSON simsearch section of params")
    p.add_argument("--render", type=json_arg, required=True, help="JSON {size, scene, classes, base: the base domain's look}")
    p.add_argument("--seed", type=int, default=0)


def _study(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--train", type=json_arg, required=True, help="JSON train section of params")
    p.add_argument("--model", type=json_arg, required=True, help="JSON model entry of params")
    p.add_argument("--val-sources", type=json_arg, required=True, help="JSON list of {dataset, split} scoring trials")
    p.add_argument("--device", default="auto")
    p.add_argument("--root", required=True, help="folder of the study journal and trial scratch space")
    p.add_argument("--diagnosis", type=json_arg, default=None,
                   help="JSON {file: diagnosis.json, target: the target domain's look}: the search first tries the "
                        "base look with the diagnosis' top causes (simsearch.diagnosed_start) moved toward the target")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = actions(p)
    a = sub.add_parser("worker", help="run trials of the shared study")
    _study(a)
    a.add_argument("--worker", type=int, default=0, help="this worker's index")
    a.add_argument("--out", required=True, help="summary JSON")
    a = sub.add_parser("report", help="the best look, importances and plots")
    _study(a)
    a.add_argument("--out", required=True, help="output folder")
    a = sub.add_parser("render", help="render a domain with the best look")
    _common(a)
    a.add_argument("--look", required=True, help="best_look.json of the report")
    a.add_argument("--count", type=int, required=True, help="images to render")
    a.add_argument("--out", required=True, help="dataset folder")


def main(a: argparse.Namespace) -> None:
    if a.action == "render":
        from realitygap.renderers import render_look
        render_look(a.params["renderer"], a.render, read_json(a.look), a.count, a.params["base"], a.seed, a.out,
                    "searched")
        return
    from realitygap.simsearch.study import search_setup
    if a.diagnosis and a.params.get("diagnosed_start"):
        from realitygap.simsearch.space import diagnosed_look
        causes = read_json(a.diagnosis["file"])["ranked_causes"]
        look = diagnosed_look(causes, a.params["space"], a.render["base"], a.diagnosis["target"],
                              a.params["diagnosed_start"])
        a.params["initial"] = ([look] if look else []) + list(a.params.get("initial", []))
    setup = search_setup(a.params, a.render, a.train, a.model, a.val_sources, a.seed, a.root, a.device)
    if a.action == "worker":
        from realitygap.simsearch.study import run_worker
        write_json(a.out, run_worker(setup, a.worker))
    else:
        from realitygap.simsearch.report import run_search_report
        run_search_report(setup, a.out)
