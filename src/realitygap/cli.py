"""The `realitygap` command: one subcommand per workflow stage. Snakemake rules call these, so every
stage also runs, and is tested, without Snakemake. Structured parameters are passed as JSON."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import Callable

from realitygap.io import InputError, read_json, write_json


def _json(text: str):
    try:
        return json.loads(Path(text[1:]).read_text() if text.startswith("@") else text)
    except (json.JSONDecodeError, OSError) as err:
        raise argparse.ArgumentTypeError(f"not JSON (or @file of JSON): {err}") from err


def _render(a) -> None:
    from realitygap.render.stage import run_render
    run_render(a.domain, a.params, a.seed, a.out, a.jobs)


def _ingest(a) -> None:
    from realitygap import ingest
    needed = {"masks": a.masks, "coco": a.coco}.get(a.format, True)
    if not needed:
        raise InputError(f"ingest --format {a.format} needs --{a.format}")
    if a.format == "masks":
        ingest.ingest_mask_folders(a.images, a.masks, a.class_map, a.domain, a.out, a.tags)
    elif a.format == "coco":
        ingest.ingest_coco(a.coco, a.images, a.class_map, a.domain, a.out, a.tags)
    else:
        ingest.ingest_unlabeled(a.images, a.domain, a.out, a.tags)


def _split(a) -> None:
    from realitygap.split import run_split
    run_split(a.dataset, a.params["fractions"], a.seed, a.out)


def _train(a) -> None:
    from realitygap.train import run_train
    run_train(a.sources, a.val_sources, a.model, a.params, a.size, a.seed, a.out, a.mix, a.name, a.device)


def _predict(a) -> None:
    from realitygap.predict import run_predict
    run_predict(a.weights, a.model, a.size, a.dataset, a.split, a.out, a.device)


def _explain(a) -> None:
    from realitygap.explain.stage import run_explain
    run_explain(a.weights, a.model, a.size, a.method, a.params, a.datasets, a.out, a.device, a.seed)


def _diagnose(a) -> None:
    from realitygap.diagnose import run_diagnose
    run_diagnose(a.source_weights, a.target_weights, a.model, a.size, a.explanations, a.datasets,
                 {"source": a.source_domain, "target": a.target_domain}, a.params, a.out, a.device)


def _score(a) -> None:
    from realitygap.score import matrix, stage
    if a.what == "segmentation":
        matrix.run_score_segmentation(a.inputs[0], a.out)
    elif a.what == "matrix":
        matrix.run_score_matrix(a.inputs, a.out, a.csv)
    elif a.what == "policies":
        from realitygap.score.policies import run_score_policies
        run_score_policies(a.matrix, a.replicates, a.policies, a.model_name, a.out, extra=a.extra)
    elif a.what == "quality":
        from realitygap.score.image_quality import run_image_quality
        run_image_quality(a.weights, a.model, a.size, a.reference, a.sets, a.params, a.out, a.device, a.seed)
    else:
        stage.run_score_explanations(a.inputs[0], a.weights, a.model, a.size, a.datasets, a.out, a.device,
                                     a.params)


def _augment(a) -> None:
    from realitygap.augment.stage import policy_context, run_augment
    context = policy_context(a.references, a.diagnosis, a.source_model, a.seed)
    run_augment(a.policy, a.policies, a.sources, a.seed, a.out, a.copies, a.keep_source, context)


def _summarize(a) -> None:
    from realitygap.summarize.stage import run_summarize
    run_summarize(a.matrix, a.explanations, a.xai_scores, a.timings, a.params, a.all_params, a.out,
                  a.diagnosis, a.policies, a.simsearch, a.experiments, a.instances, a.instance_explanations,
                  a.pseudolabel, a.image_quality, a.frontier, a.instance_augmented, a.run_record)


def _simsearch(a) -> None:
    if a.action == "render":
        from realitygap.simsearch.plugins import render_look
        render_look(a.params["renderer"], a.render, read_json(a.look), a.count, a.params["base"], a.seed, a.out,
                    "searched")
        return
    from realitygap.simsearch.study import search_setup
    setup = search_setup(a.params, a.render, a.train, a.model, a.val_sources, a.seed, a.root, a.device)
    if a.action == "worker":
        from realitygap.simsearch.study import run_worker
        write_json(a.out, run_worker(setup, a.worker))
    else:
        from realitygap.simsearch.report import run_search_report
        run_search_report(setup, a.out)


def _experiments(a) -> None:
    if a.action == "evaluate":
        from realitygap.experiments.evaluate import run_evaluate
        run_evaluate(a.weights, a.model, a.size, a.sources, a.test, a.params["groups"],
                     a.params["min_group_images"], a.seed, a.out, a.device)
    elif a.action == "probe":
        from realitygap.experiments.probe import run_probe
        run_probe(a.weights, a.model, a.size, a.strength, a.correlated, a.broken, a.beside, a.params["method"],
                  a.params["explain"], a.params["num_images"], a.seed, a.out, a.device)
    else:
        from realitygap.experiments.report import run_report
        run_report(a.scores, a.probes, a.params["source_mix"], a.params["target_mix"], a.params["source_domains"],
                   a.params["target_domains"], a.out)


def _instances(a) -> None:
    if a.action == "train":
        from realitygap.detection.train import run_train_instances
        run_train_instances(a.sources, a.model, a.loss, a.params, a.categories, a.seed, a.out, a.mix, a.device)
    elif a.action == "predict":
        from realitygap.detection.predict import run_predict_instances
        run_predict_instances(a.weights, a.model, a.categories, a.datasets, a.out, a.device)
    elif a.action == "augment":
        from realitygap.detection.augment import run_augment_instances
        run_augment_instances(a.policy, a.params, a.sources, a.categories, a.min_count, a.seed, a.out, a.source_model,
                              a.references)
    elif a.action == "explain":
        from realitygap.detection.explain import run_explain_instances
        dataset, split = a.datasets[a.params["domain"]]
        run_explain_instances(a.weights_of, a.model, a.categories, dataset, split, a.params["methods"],
                              a.params["num_images"], a.params["iou"], a.seed, a.out, a.device)
    else:
        from realitygap.score.instances import run_score_instances
        run_score_instances(a.predictions, a.datasets, a.out)


def _pseudolabel(a) -> None:
    from realitygap.pseudolabel import stage
    if a.action == "classifier":
        stage.run_classifier(a.dataset, a.split, a.sources, a.model, a.params, a.size, a.seed, a.out, a.device,
                             a.witness)
    else:
        stage.run_label(a.dataset, a.split, a.classifier, a.model, a.params, a.size, a.seed, a.out, a.results,
                        a.device)


def _frontier(a) -> None:
    from realitygap.frontier.stage import run_frontier
    run_frontier(a.datasets, a.weights, a.model, a.size, a.params, a.out, a.device, a.seed)


def _dvc(a) -> None:
    from realitygap import versioning
    if a.action == "track":
        print("\n".join(versioning.track(a.root)))
    else:
        versioning.restore(a.root, ["--snakefile", a.snakefile] if a.snakefile else [])


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subcommand per stage."""
    parser = argparse.ArgumentParser(prog="realitygap", description=__doc__)
    parser.add_argument("--timings", default="logs/timings", help="folder for per-job timing records")
    sub = parser.add_subparsers(dest="stage", required=True)

    def stage(name: str, fn: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(fn=fn)
        return p

    p = stage("render", _render, "Render one domain of the embedded benchmark (images, masks, depth, metadata).")
    p.add_argument("--domain", required=True)
    p.add_argument("--params", type=_json, required=True, help="JSON: size, count, scene, factors")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--out", required=True, help="output dataset folder")

    p = stage("ingest", _ingest, "Validate and import a domain: image + mask folders, COCO JSON, or unlabeled images.")
    p.add_argument("--format", choices=["masks", "coco", "unlabeled"], required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--images", required=True, help="image folder")
    p.add_argument("--masks", help="masks: folder of <image stem>.png label masks")
    p.add_argument("--coco", help="coco: instance annotation JSON")
    p.add_argument("--class-map", type=_json, default={},
                   help='JSON: masks: {"mask value": class}; coco: {"category name": class}')
    p.add_argument("--tags", help="image-level tags (CSV: image + a 0/1 column per class; JSON: image -> "
                                  "[classes]), checked and kept as the dataset's tags.json")
    p.add_argument("--out", required=True, help="output dataset folder")

    p = stage("split", _split, "Split a dataset into train/val/test by scene.")
    p.add_argument("--dataset", required=True)
    p.add_argument("--params", type=_json, required=True, help="JSON: {fractions: {train, val, test}}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="split manifest (.json)")

    p = stage("train", _train, "Train one mmseg model on one training mix (resumes after interruption).")
    p.add_argument("--sources", type=_json, required=True, help="JSON list of {dataset, split, fraction}")
    p.add_argument("--val-sources", type=_json, default=[], help="JSON list of {dataset, split}")
    _training_args(p, "JSON model entry of params", "JSON train section of params")
    p.add_argument("--mix", default="mix")
    p.add_argument("--name", default="model")
    p.add_argument("--out", required=True, help="model folder")

    p = stage("predict", _predict, "Predict the test split of a dataset with a trained model.")
    _model_args(p)
    p.add_argument("--dataset", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--out", required=True, help="predictions (.npz)")

    p = stage("explain", _explain, "Attribution maps of a trained model on a fixed sample of test images.")
    _model_args(p)
    p.add_argument("--method", required=True)
    p.add_argument("--params", type=_json, required=True, help="JSON explain section of params")
    p.add_argument("--datasets", type=_json, required=True, help="JSON {domain: [dataset, split]}")
    p.add_argument("--seed", type=int, default=0, help="seed of sampling methods (SmoothGrad, RISE, KernelSHAP)")
    p.add_argument("--out", required=True, help="output folder")

    p = stage("diagnose", _diagnose, "Compare the source- and target-trained models' explanations; rank causes.")
    p.add_argument("--source-weights", required=True)
    p.add_argument("--target-weights", required=True)
    p.add_argument("--model", type=_json, required=True, help="JSON model entry of params")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--explanations", type=_json, required=True,
                   help="JSON {method: [source model's explain folder, target model's]}")
    p.add_argument("--datasets", type=_json, required=True, help="JSON {domain: dataset folder}")
    p.add_argument("--source-domain", required=True)
    p.add_argument("--target-domain", required=True)
    p.add_argument("--params", type=_json, required=True, help="JSON diagnose section of params")
    p.add_argument("--out", required=True, help="diagnosis.json")

    p = stage("score", _score, "Score predictions, gather the gap matrix, score explanations, the "
                               "policies' gap closure over seeds, or the training sets' image quality.")
    p.add_argument("what", choices=["segmentation", "matrix", "explanations", "policies", "quality"])
    p.add_argument("inputs", nargs="*")
    p.add_argument("--matrix", help="policies: matrix.json of the main run")
    p.add_argument("--replicates", nargs="*", default=[], help="policies: replicate real.json score files")
    p.add_argument("--policies", type=_json, help="policies: JSON list of policy names")
    p.add_argument("--model-name", help="policies: the model whose scores are used")
    p.add_argument("--extra", type=_json, default={}, help="policies: JSON {name: mix} of further entries "
                                                          "(e.g. the render search's model)")
    p.add_argument("--csv", help="matrix: CSV output")
    p.add_argument("--weights")
    p.add_argument("--model", type=_json)
    p.add_argument("--size", type=int)
    p.add_argument("--device", default="auto")
    p.add_argument("--datasets", type=_json, help="explanations: JSON {domain: dataset}")
    p.add_argument("--params", type=_json, default={},
                   help="explanations: JSON {deletion_steps, sanity_images} (the score section of params); "
                        "quality: the image_quality section")
    p.add_argument("--reference", type=_json, help="quality: JSON {dataset, split}: the real images compared with")
    p.add_argument("--sets", type=_json, help="quality: JSON {name: {dataset, split, subset} or "
                                              "{dataset, augmented: true}}")
    p.add_argument("--seed", type=int, default=0, help="quality: seed of the KID subsets")
    p.add_argument("--out", required=True)

    p = stage("augment", _augment, "Apply an augmentation policy to the training samples of a mix.")
    p.add_argument("--policy", required=True, help="name of the policy in --policies")
    p.add_argument("--policies", type=_json, required=True,
                   help="JSON {name: entry}: the policy and the policies it composes")
    p.add_argument("--sources", type=_json, required=True, help="JSON list of {dataset, split, fraction}")
    p.add_argument("--copies", type=int, default=1, help="augmented versions per source image")
    p.add_argument("--keep-source", action="store_true", help="keep the unmodified images too")
    p.add_argument("--references", type=_json, default=None,
                   help="JSON list of {dataset, split}: unlabeled target-domain images (style transfer)")
    p.add_argument("--diagnosis", help="diagnosis.json of the source model (xai_guided)")
    p.add_argument("--source-model", type=_json, default=None,
                   help="JSON {weights, model, size, device} of the source model (xai_guided)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output dataset folder")

    p = stage("summarize", _summarize, "Write metrics.json, summary.md, report.html and figures.")
    p.add_argument("--matrix", required=True)
    p.add_argument("--explanations", required=True, help="root folder of explain outputs")
    p.add_argument("--xai-scores", required=True, help="root folder of explanation scores")
    p.add_argument("--diagnosis", help="folder of {model}/diagnosis.json files")
    p.add_argument("--policies", help="policies.json of `score policies` (the gap-closure study)")
    p.add_argument("--simsearch", help="search.json of `simsearch report` (the render search)")
    p.add_argument("--experiments", help="folder of `experiments report` (ablations.json, probe.json, figures)")
    p.add_argument("--instances", help="folder of `instances score` files (<mix>/<loss>.json); --all-params "
                                       "then needs `instance`")
    p.add_argument("--instance-explanations", help="folder of `instances explain` (maps, meta.json, figure)")
    p.add_argument("--instance-augmented", help="folder of `instances augment` datasets (<policy>/manifest.json)")
    p.add_argument("--pseudolabel", help="folder of `pseudolabel label` results (steps.json, examples.png)")
    p.add_argument("--frontier", help="folder of `frontier` results (frontier.json, strips.png, gan_epochs.png)")
    p.add_argument("--image-quality", help="image_quality.json of `score quality` (FID / KID / IS of the training sets)")
    p.add_argument("--params", type=_json, required=True,
                   help="JSON: primary_model, methods, policies, attribution_images")
    p.add_argument("--all-params", type=_json, default={}, help="JSON of the whole params, for the report")
    p.add_argument("--run-record", default="logs/run.json",
                   help="the workflow's start record (Snakemake's onstart writes it): timings_s.total is the "
                        "wall time since; without it, since the earliest job's start")
    p.add_argument("--out", required=True, help="report folder")

    p = stage("simsearch", _simsearch, "Search the render parameters with Optuna: `worker` runs trials of the "
                                       "shared study, `report` writes the best look, importances and plots.")
    p.add_argument("action", choices=["worker", "report", "render"])
    p.add_argument("--params", type=_json, required=True, help="JSON simsearch section of params")
    p.add_argument("--render", type=_json, required=True, help="JSON {size, scene, base: the base domain's look}")
    p.add_argument("--train", type=_json, help="worker, report: JSON train section of params")
    p.add_argument("--model", type=_json, help="worker, report: JSON model entry of params")
    p.add_argument("--val-sources", type=_json, help="worker, report: JSON list of {dataset, split} scoring trials")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--root", help="worker, report: folder of the study journal and trial scratch space")
    p.add_argument("--worker", type=int, default=0, help="worker: this worker's index")
    p.add_argument("--look", help="render: best_look.json of the report")
    p.add_argument("--count", type=int, help="render: images to render")
    p.add_argument("--out", required=True, help="worker: summary JSON; report: output folder; render: dataset")

    p = stage("experiments", _experiments, "Ablations: `evaluate` scores a variant model on its training images, "
                                           "each test split and each group; `probe` runs the spurious-correlation "
                                           "probe on one model; `report` writes the ablation and probe tables.")
    p.add_argument("action", choices=["evaluate", "probe", "report"])
    p.add_argument("--params", type=_json, required=True,
                   help="evaluate: {groups, min_group_images}; probe: {method, explain, num_images}; "
                        "report: {source_mix, target_mix, source_domains, target_domains}")
    p.add_argument("--weights", help="evaluate, probe: model.pth written by train")
    p.add_argument("--model", type=_json, help="evaluate, probe: JSON model entry")
    p.add_argument("--size", type=int)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sources", type=_json, help="evaluate: JSON training sources of the model's mix")
    p.add_argument("--test", type=_json, help="evaluate: JSON {domain: [dataset, split file]}")
    p.add_argument("--strength", type=float, help="probe: the cue-seam correlation the model was trained at")
    p.add_argument("--correlated", help="probe: test dataset with the training correlation")
    p.add_argument("--broken", help="probe: test dataset with every cue on its decoy band")
    p.add_argument("--beside", help="probe: test dataset with every cue beside its seam (attribution on the cue)")
    p.add_argument("--scores", nargs="*", default=[], help="report: <variant>/<seed>/<mix>/scores.json files")
    p.add_argument("--probes", nargs="*", default=[], help="report: probe JSON files")
    p.add_argument("--out", required=True, help="evaluate, probe: JSON file; report: folder")

    p = stage("instances", _instances, "Instance track (mmdet Mask R-CNN): `train` one model on one mix with one "
                                       "box-head loss, `predict` each test split (COCO results), `score` them "
                                       "(COCO mask/box AP, AP by frequency group), `explain` the same objects "
                                       "in several models (D-RISE, Grad-CAM, saliency, counterfactuals), "
                                       "`augment` a mix's training images (counterfactuals raising every "
                                       "category to a minimum count, or the 16-factor baseline).")
    p.add_argument("action", choices=["train", "predict", "score", "explain", "augment"])
    p.add_argument("--sources", type=_json, help="train, augment: JSON list of {dataset, split, fraction}")
    p.add_argument("--model", type=_json, help="train, predict: JSON {depth, standard}")
    p.add_argument("--loss", help="train: box-head classification loss (ce, focal, seesaw, reweight, ldam)")
    p.add_argument("--params", type=_json, help="train: JSON {iters, batch_size, lr, momentum, weight_decay, "
                                                "warmup_iters, milestones, checkpoint_interval}; explain: JSON "
                                                "{domain, num_images, iou, methods: {name: options}}; augment: the "
                                                "policy's JSON entry {type, options}")
    p.add_argument("--policy", help="augment: the policy's name")
    p.add_argument("--min-count", type=int, default=101,
                   help="augment: training images every category is raised to (default 101, as for LVIS)")
    p.add_argument("--source-model", type=_json, default=None,
                   help="augment: JSON {weights, model, device} of the frozen Mask R-CNN (counterfactual)")
    p.add_argument("--references", type=_json, default=None,
                   help="augment: JSON list of {dataset, split}: unlabeled target-domain images (counterfactual)")
    p.add_argument("--categories", type=_json,
                   help="train, predict, explain, augment: JSON list of category names (the classes)")
    p.add_argument("--mix", default="mix")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--weights", help="predict: model.pth written by `instances train`")
    p.add_argument("--weights-of", type=_json, help="explain: JSON {model name: model.pth} of the models compared")
    p.add_argument("--datasets", type=_json,
                   help="predict, explain: JSON {domain: [dataset, split file]}; score: JSON {domain: dataset}")
    p.add_argument("--predictions", help="score: folder of <domain>.json written by `instances predict`")
    p.add_argument("--out", required=True, help="train: model folder; predict, explain: folder; score: JSON file")

    p = stage("pseudolabel", _pseudolabel, "Pixel labels from image-level tags: `classifier` trains the tag "
                                           "classifier; `label` runs CAM priors -> dense CRF -> affinity random "
                                           "walk and writes the pseudo-labelled dataset.")
    p.add_argument("action", choices=["classifier", "label"])
    p.add_argument("--dataset", required=True, help="the target domain's dataset folder")
    p.add_argument("--split", required=True, help="its split file (the train split is pseudo-labelled)")
    p.add_argument("--sources", type=_json, default=[], help="classifier: JSON labelled sources {dataset, split, fraction}")
    p.add_argument("--witness", type=_json, help="classifier, tags `predicted`: JSON {weights, model, size}")
    p.add_argument("--classifier", help="label: folder written by `pseudolabel classifier`")
    _training_args(p, "JSON model entry whose backbone the nets use", "JSON pseudolabel section of params")
    p.add_argument("--results", help="label: folder for steps.json, examples.png and the affinity net")
    p.add_argument("--out", required=True, help="classifier: model folder; label: pseudo-labelled dataset folder")

    p = stage("frontier", _frontier, "Generative frontier explorer: a VAE and a domain classifier on both domains, "
                                     "latent walks from source to target test images through both models, and a "
                                     "WGAN-GP with the domain classifier in the loop.")
    p.add_argument("--datasets", type=_json, required=True, help="JSON {source: [dataset, split], target: [...]}")
    p.add_argument("--weights", type=_json, required=True,
                   help="JSON {mix: model.pth} of the params' source_mix and target_mix")
    _training_args(p, "JSON model entry of the segmentation models", "JSON frontier section of params")
    p.add_argument("--out", required=True, help="output folder")

    p = stage("dvc", _dvc, "Version a run with DVC: `track` dvc-adds the workflow's outputs; `restore` pulls "
                           "them and marks them current for Snakemake, so nothing reruns.")
    p.add_argument("action", choices=["track", "restore"])
    p.add_argument("--root", default=".", help="the workflow's working directory (a DVC repository)")
    p.add_argument("--snakefile", help="restore: the Snakefile, when it is not <root>/Snakefile")
    return parser


def _training_args(p: argparse.ArgumentParser, model_help: str, params_help: str) -> None:
    p.add_argument("--model", type=_json, required=True, help=model_help)
    p.add_argument("--params", type=_json, required=True, help=params_help)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", required=True, help="model.pth written by train")
    p.add_argument("--model", type=_json, required=True, help="JSON model entry of params")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--device", default="auto")


def _record_timing(args: argparse.Namespace, started: float, seconds: float) -> None:
    key = re.sub(r"[^A-Za-z0-9_.+-]+", "_", f"{args.stage}-{args.out}")
    write_json(Path(args.timings) / f"{key}.json", {"stage": args.stage, "out": str(args.out),
                                                    "seconds": round(seconds, 3), "started": round(started, 3)})


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `realitygap` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.time()
    try:
        args.fn(args)
    except (InputError, FileNotFoundError, ValueError) as err:
        print(f"realitygap {args.stage}: error: {err}", file=sys.stderr)
        return 2
    if args.stage not in ("summarize", "dvc"):
        _record_timing(args, started, time.time() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
