"""`realitygap summarize`."""

from __future__ import annotations

import argparse

from realitygap.cliargs import json_arg

HELP = "Write metrics.json, summary.md, report.html and figures."


def add_arguments(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--params", type=json_arg, required=True,
                   help="JSON: primary_model, methods, policies, attribution_images")
    p.add_argument("--all-params", type=json_arg, default={}, help="JSON of the whole params, for the report")
    p.add_argument("--run-record", default="logs/run.json",
                   help="the workflow's start record (Snakemake's onstart writes it): timings_s.total is the "
                        "wall time since; without it, since the earliest job's start")
    p.add_argument("--benchmarks", default="benchmarks",
                   help="folder of Snakemake's benchmark records (benchmarks/<rule>/...): the per-rule table")
    p.add_argument("--out", required=True, help="report folder")


def main(a: argparse.Namespace) -> None:
    from realitygap.summarize.stage import run_summarize
    run_summarize(matrix_file=a.matrix, explanations=a.explanations, xai_scores=a.xai_scores, timings_dir=a.timings,
                  cfg=a.params, params=a.all_params, out=a.out, diagnosis_dir=a.diagnosis, policies_file=a.policies,
                  simsearch_file=a.simsearch, experiments_dir=a.experiments, instances_dir=a.instances,
                  instance_explanations=a.instance_explanations, pseudolabel_dir=a.pseudolabel,
                  image_quality=a.image_quality, frontier_dir=a.frontier, instance_augmented=a.instance_augmented,
                  run_record=a.run_record, benchmarks_dir=a.benchmarks)
