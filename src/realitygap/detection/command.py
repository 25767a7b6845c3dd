"""`realitygap instances`: the instance track's actions, each with its own flags."""

from __future__ import annotations

import argparse

from realitygap.cliargs import actions, json_arg

HELP = ("Instance track (mmdet Mask R-CNN): `train` one model on one mix with one box-head loss, `predict` each "
        "test split (COCO results), `score` them (COCO mask/box AP, AP by frequency group), `explain` the same "
        "objects in several models (D-RISE, Grad-CAM, saliency, counterfactuals), `augment` a mix's training "
        "images (counterfactuals raising every category to a minimum count, or the 16-factor baseline).")


def _categories(p: argparse.ArgumentParser) -> None:
    p.add_argument("--categories", type=json_arg, required=True, help="JSON list of category names (the classes)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = actions(p)
    a = sub.add_parser("train", help="train one Mask R-CNN on one mix with one box-head loss")
    a.add_argument("--sources", type=json_arg, required=True, help="JSON list of {dataset, split, fraction}")
    a.add_argument("--model", type=json_arg, required=True, help="JSON {depth, standard}")
    a.add_argument("--loss", required=True, help="box-head classification loss (ce, focal, seesaw, reweight, ldam)")
    a.add_argument("--params", type=json_arg, required=True,
                   help="JSON {iters, batch_size, lr, momentum, weight_decay, warmup_iters, milestones, "
                        "checkpoint_interval}")
    _categories(a)
    a.add_argument("--mix", default="mix")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--device", default="auto")
    a.add_argument("--out", required=True, help="model folder")
    a = sub.add_parser("predict", help="detections on the test split of each domain (COCO results)")
    a.add_argument("--weights", required=True, help="model.pth written by `instances train`")
    a.add_argument("--model", type=json_arg, required=True, help="JSON {depth, standard}")
    _categories(a)
    a.add_argument("--datasets", type=json_arg, required=True, help="JSON {domain: [dataset, split file]}")
    a.add_argument("--device", default="auto")
    a.add_argument("--out", required=True, help="folder")
    a = sub.add_parser("score", help="COCO mask/box AP and AP by frequency group")
    a.add_argument("--predictions", required=True, help="folder of <domain>.json written by `instances predict`")
    a.add_argument("--datasets", type=json_arg, required=True, help="JSON {domain: dataset}")
    a.add_argument("--out", required=True, help="JSON file")
    _explain_arguments(sub.add_parser("explain", help="the same objects explained in several models"))
    _augment_arguments(sub.add_parser("augment", help="raise every category to a minimum count of images"))


def _explain_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--weights-of", type=json_arg, required=True, help="JSON {model name: model.pth} of the models compared")
    a.add_argument("--model", type=json_arg, required=True, help="JSON {depth, standard}")
    _categories(a)
    a.add_argument("--params", type=json_arg, required=True,
                   help="JSON {domain, num_images, iou, methods: {name: options}}")
    a.add_argument("--datasets", type=json_arg, required=True, help="JSON {domain: [dataset, split file]}")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--device", default="auto")
    a.add_argument("--out", required=True, help="folder")


def _augment_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--policy", required=True, help="the policy's name")
    a.add_argument("--params", type=json_arg, required=True, help="the policy's JSON entry {type, options}")
    a.add_argument("--sources", type=json_arg, required=True, help="JSON list of {dataset, split, fraction}")
    _categories(a)
    a.add_argument("--min-count", type=int, default=101,
                   help="training images every category is raised to (default 101, as for LVIS)")
    a.add_argument("--source-model", type=json_arg, default=None,
                   help="JSON {weights, model, device} of the frozen Mask R-CNN (counterfactual)")
    a.add_argument("--references", type=json_arg, default=None,
                   help="JSON list of {dataset, split}: unlabeled target-domain images (counterfactual)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--out", required=True, help="dataset folder")


def main(a: argparse.Namespace) -> None:
    if a.action == "train":
        from realitygap.detection.train import run_train_instances
        run_train_instances(a.sources, a.model, a.loss, a.params, a.categories, a.seed, a.out, mix=a.mix,
                            device=a.device)
    elif a.action == "predict":
        from realitygap.detection.predict import run_predict_instances
        run_predict_instances(a.weights, a.model, a.categories, a.datasets, a.out, device=a.device)
    elif a.action == "augment":
        from realitygap.detection.augment import run_augment_instances
        run_augment_instances(a.policy, a.params, a.sources, a.categories, a.min_count, a.seed, a.out,
                              source_model=a.source_model, references=a.references)
    elif a.action == "explain":
        from realitygap.detection.explain import run_explain_instances
        dataset, split = a.datasets[a.params["domain"]]
        run_explain_instances(a.weights_of, a.model, a.categories, dataset, split, a.params["methods"],
                              a.params["num_images"], a.params["iou"], a.seed, a.out, device=a.device)
    else:
        from realitygap.detection.score import run_score_instances
        run_score_instances(a.predictions, a.datasets, a.out)
