# The instance track: mmdet Mask R-CNN trained on the domain mixes (params `instance/mixes` at the main
# box-head loss, and the long-tail study: every loss of `instance/longtail/losses` on its mixes), its
# detections on each test split, and COCO scores; the augmented mixes `inst_<policy>` (counterfactuals that
# raise every category to a minimum count, and the 16-factor baseline on the same images) at the main loss.
from realitygap.params import instance_categories

INSTANCE = config["instance"]
INSTANCE_RUNS = sorted({(mix, INSTANCE["loss"]) for mix in INSTANCE["mixes"] + (INSTANCE_AUG_MIXES if INSTANCE["mixes"] else [])}
                       | {(mix, loss) for mix in INSTANCE["longtail"]["mixes"] for loss in INSTANCE["longtail"]["losses"]})
INSTANCE_SCORES = [f"results/scores/instances/{mix}/{loss}.json" for mix, loss in INSTANCE_RUNS]
# a user's detector: its config file and checkpoint are inputs of the jobs that build it (changes rerun them)
DETECTOR_FILES = [INSTANCE["model"][k] for k in ("config", "checkpoint") if k in INSTANCE["model"]]


wildcard_constraints:
    loss="ce|focal|seesaw|reweight|ldam",


rule train_instances:
    input:
        mix_input_files,
        DETECTOR_FILES,
        code=code("detection.train"),
    output:
        weights="results/instances/models/{mix}/{loss}/model.pth",
        summary="results/instances/models/{mix}/{loss}/train.json",
    params:
        sources=lambda wc: as_json(mix_sources(wc.mix)),
        model=slice_of("instance/model"),
        train=lambda wc: as_json({k: INSTANCE[k] for k in ("iters", "batch_size", "optimizer", "lr", "momentum",
                                                           "weight_decay", "warmup_iters", "milestones",
                                                           "checkpoint_interval")}),
        categories=lambda wc: as_json(instance_categories(config)),
        seed=SEED,
        device=DEVICE,
        out=lambda wc, output: os.path.dirname(output.weights),
    benchmark:
        "benchmarks/train_instances/{mix}/{loss}.tsv",
    log:
        "logs/instances/train/{mix}/{loss}.log",
    threads: 1
    resources:
        **cluster("train"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap instances train --sources {params.sources:q} --model {params.model:q} "
        "--loss {wildcards.loss} --params {params.train:q} --categories {params.categories:q} --mix {wildcards.mix} "
        "--seed {params.seed} --device {params.device} --out {params.out} > {log} 2>&1"


rule predict_instances:
    input:
        weights="results/instances/models/{mix}/{loss}/model.pth",
        summary="results/instances/models/{mix}/{loss}/train.json",
        data=[raw(d) for d in INSTANCE["test_domains"]],
        splits=[split_file(d) for d in INSTANCE["test_domains"]],
        detector=DETECTOR_FILES,
        code=code("detection.predict"),
    output:
        directory("results/instances/predictions/{mix}/{loss}"),
    params:
        model=slice_of("instance/model"),
        categories=lambda wc: as_json(instance_categories(config)),
        datasets=as_json(split_datasets(INSTANCE["test_domains"])),
        device=DEVICE,
    benchmark:
        "benchmarks/predict_instances/{mix}/{loss}.tsv",
    log:
        "logs/instances/predict/{mix}/{loss}.log",
    resources:
        **cluster("predict"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap instances predict --weights {input.weights} --model {params.model:q} "
        "--categories {params.categories:q} --datasets {params.datasets:q} --device {params.device} "
        "--out {output} 2> {log}"


rule score_instances:
    input:
        predictions="results/instances/predictions/{mix}/{loss}",
        data=[raw(d) for d in INSTANCE["test_domains"]],
        code=code("detection.score"),
    output:
        "results/scores/instances/{mix}/{loss}.json",
    params:
        datasets=as_json({d: raw(d) for d in INSTANCE["test_domains"]}),
    benchmark:
        "benchmarks/score_instances/{mix}/{loss}.tsv",
    log:
        "logs/score/instances/{mix}/{loss}.log",
    resources:
        **cluster("score"),
    shell:
        "REALITYGAP_RULE={rule} realitygap instances score --predictions {input.predictions} --datasets {params.datasets:q} "
        "--out {output} 2> {log}"


INSTANCE_EXPLAINED = [f"results/instances/models/{mix}/{INSTANCE['loss']}/model.pth" for mix in INSTANCE["explain"]["mixes"]]
INSTANCE_EXPLANATIONS = "results/instances/explanations"


rule explain_instances:
    input:
        weights=INSTANCE_EXPLAINED,
        data=raw(INSTANCE["explain"]["domain"]),
        split=split_file(INSTANCE["explain"]["domain"]),
        detector=DETECTOR_FILES,
        code=code("detection.explain"),
    output:
        directory(INSTANCE_EXPLANATIONS),
    params:
        weights=as_json(dict(zip(INSTANCE["explain"]["mixes"], INSTANCE_EXPLAINED))),
        model=slice_of("instance/model"),
        categories=lambda wc: as_json(instance_categories(config)),
        explain=slice_of("instance/explain"),
        datasets=lambda wc, input: as_json({INSTANCE["explain"]["domain"]: [input.data, input.split]}),
        seed=SEED,
        device=DEVICE,
    benchmark:
        "benchmarks/explain_instances.tsv",
    log:
        "logs/instances/explain.log",
    resources:
        **cluster("explain"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap instances explain --weights-of {params.weights:q} "
        "--model {params.model:q} --categories {params.categories:q} --params {params.explain:q} "
        "--datasets {params.datasets:q} --seed {params.seed} --device {params.device} --out {output} 2> {log}"


INSTANCE_AUGMENTED = [f"data/augmented/instances/{p}" for p in INSTANCE_AUGMENT["policies"]] if INSTANCE["mixes"] else []
INSTANCE_SOURCE_MODEL = f"results/instances/models/{INSTANCE_AUGMENT['source_mix']}/{INSTANCE['loss']}/model.pth"


def instance_augment_inputs(wc):
    """The source mix's datasets and splits; the reference domain and the source detector for counterfactuals."""
    files = [p for src in mix_sources(INSTANCE_AUGMENT["source_mix"]) for p in (src["dataset"], src["split"])]
    if INSTANCE_AUGMENT["policies"][wc.policy].get("type", wc.policy) == "counterfactual":
        domain = INSTANCE_AUGMENT["reference_domain"]
        files += [*dataset_files(domain), INSTANCE_SOURCE_MODEL, INSTANCE_SOURCE_MODEL.replace("model.pth", "train.json")]
    return files


def instance_augment_context(wc):
    """Command-line options of the counterfactual policy: the frozen source detector and the reference images."""
    if INSTANCE_AUGMENT["policies"][wc.policy].get("type", wc.policy) != "counterfactual":
        return ""
    return shlex.join(["--source-model", as_json({"weights": INSTANCE_SOURCE_MODEL, "model": INSTANCE["model"],
                                                  "device": DEVICE}),
                       "--references", as_json([raw_source(INSTANCE_AUGMENT["reference_domain"])])])


rule augment_instances:
    input:
        instance_augment_inputs,
        detector=DETECTOR_FILES,
        code=code("detection.augment"),
    output:
        directory("data/augmented/instances/{policy}"),
    params:
        policy=slice_of("instance/augment/policies/{policy}"),
        sources=lambda wc: as_json(mix_sources(INSTANCE_AUGMENT["source_mix"])),
        categories=lambda wc: as_json(instance_categories(config)),
        min_count=INSTANCE_AUGMENT["min_count"],
        context=instance_augment_context,
        seed=SEED,
    benchmark:
        "benchmarks/augment_instances/{policy}.tsv",
    log:
        "logs/instances/augment/{policy}.log",
    wildcard_constraints:
        policy="|".join(INSTANCE_AUGMENT["policies"]) or "(?!)",
    resources:
        **cluster("augment"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap instances augment --policy {wildcards.policy} --params {params.policy:q} "
        "--sources {params.sources:q} --categories {params.categories:q} --min-count {params.min_count} "
        "{params.context} --seed {params.seed} --out {output} 2> {log}"
