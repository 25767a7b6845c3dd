"""`realitygap score`: one action per kind of score, each with its own flags."""

from __future__ import annotations

import argparse

from realitygap.cliargs import actions, json_arg, model_args

HELP = ("Score predictions, gather the gap matrix, score explanations, the policies' gap closure over seeds, "
        "or the training sets' image quality.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = actions(p, "what")
    a = sub.add_parser("segmentation", help="segmentation scores of one predictions file")
    a.add_argument("inputs", nargs=1, help="predictions (.npz) of `predict`")
    a.add_argument("--out", required=True)
    a = sub.add_parser("matrix", help="the gap matrix of every score file")
    a.add_argument("inputs", nargs="+", help="score JSON files of `score segmentation`")
    a.add_argument("--csv", help="CSV output")
    a.add_argument("--out", required=True)
    a = sub.add_parser("explanations", help="faithfulness, localisation and sanity of one explain folder")
    a.add_argument("inputs", nargs=1, help="the explain folder")
    model_args(a)
    a.add_argument("--datasets", type=json_arg, required=True, help="JSON {domain: dataset}")
    a.add_argument("--params", type=json_arg, default={},
                   help="JSON {deletion_steps, sanity_images} (the score section of params)")
    a.add_argument("--out", required=True)
    a = sub.add_parser("policies", help="the policies' gap closure over the training seeds")
    a.add_argument("--matrix", required=True, help="matrix.json of the main run")
    a.add_argument("--replicates", nargs="*", default=[], help="replicate real.json score files")
    a.add_argument("--policies", type=json_arg, required=True, help="JSON list of policy names")
    a.add_argument("--model-name", required=True, help="the model whose scores are used")
    a.add_argument("--extra", type=json_arg, default={},
                   help="JSON {name: mix} of further entries (e.g. the render search's model)")
    a.add_argument("--out", required=True)
    a = sub.add_parser("quality", help="FID, KID and IS of training sets on our own model's features")
    model_args(a)
    a.add_argument("--params", type=json_arg, default={}, help="the image_quality section of params")
    a.add_argument("--reference", type=json_arg, required=True,
                   help="JSON {dataset, split}: the real images compared with")
    a.add_argument("--sets", type=json_arg, required=True,
                   help="JSON {name: {dataset, split, subset} or {dataset, augmented: true}}")
    a.add_argument("--seed", type=int, default=0, help="seed of the KID subsets")
    a.add_argument("--out", required=True)


def main(a: argparse.Namespace) -> None:
    if a.what == "segmentation":
        from realitygap.score.matrix import run_score_segmentation
        run_score_segmentation(a.inputs[0], a.out)
    elif a.what == "matrix":
        from realitygap.score.matrix import run_score_matrix
        run_score_matrix(a.inputs, a.out, a.csv)
    elif a.what == "policies":
        from realitygap.score.policies import run_score_policies
        run_score_policies(a.matrix, a.replicates, a.policies, a.model_name, a.out, extra=a.extra)
    elif a.what == "quality":
        from realitygap.score.image_quality import run_image_quality
        run_image_quality(a.weights, a.model, a.size, a.reference, a.sets, a.params, a.out, device=a.device,
                          seed=a.seed)
    else:
        from realitygap.score.stage import run_score_explanations
        run_score_explanations(a.inputs[0], a.weights, a.model, a.size, a.datasets, a.out, device=a.device,
                               cfg=a.params)
