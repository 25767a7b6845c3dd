# The instance track: mmdet Mask R-CNN trained on the domain mixes (params `instance/mixes` at the main
# box-head loss, and the long-tail study: every loss of `instance/longtail/losses` on its mixes), its
# detections on each test split, and COCO scores.
from realitygap.params import instance_categories

INSTANCE = config["instance"]
INSTANCE_RUNS = sorted({(mix, INSTANCE["loss"]) for mix in INSTANCE["mixes"]}
                       | {(mix, loss) for mix in INSTANCE["longtail"]["mixes"] for loss in INSTANCE["longtail"]["losses"]})
INSTANCE_SCORES = [f"results/scores/instances/{mix}/{loss}.json" for mix, loss in INSTANCE_RUNS]


wildcard_constraints:
    loss="ce|focal|seesaw|reweight|ldam",


rule train_instances:
    input:
        mix_input_files,
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
    log:
        "logs/instances/train/{mix}/{loss}.log",
    threads: 1
    resources:
        **cluster("train"),
    shell:
        "OMP_NUM_THREADS={threads} realitygap instances train --sources {params.sources:q} --model {params.model:q} "
        "--loss {wildcards.loss} --params {params.train:q} --categories {params.categories:q} --mix {wildcards.mix} "
        "--seed {params.seed} --device {params.device} --out {params.out} > {log} 2>&1"


rule predict_instances:
    input:
        weights="results/instances/models/{mix}/{loss}/model.pth",
        summary="results/instances/models/{mix}/{loss}/train.json",
        data=expand("data/raw/{domain}", domain=INSTANCE["test_domains"]),
        splits=expand("data/splits/{domain}.json", domain=INSTANCE["test_domains"]),
        code=code("detection.predict"),
    output:
        directory("results/instances/predictions/{mix}/{loss}"),
    params:
        model=slice_of("instance/model"),
        categories=lambda wc: as_json(instance_categories(config)),
        datasets=as_json(split_datasets(INSTANCE["test_domains"])),
        device=DEVICE,
    log:
        "logs/instances/predict/{mix}/{loss}.log",
    resources:
        **cluster("predict"),
    shell:
        "OMP_NUM_THREADS={threads} realitygap instances predict --weights {input.weights} --model {params.model:q} "
        "--categories {params.categories:q} --datasets {params.datasets:q} --device {params.device} "
        "--out {output} 2> {log}"


rule score_instances:
    input:
        predictions="results/instances/predictions/{mix}/{loss}",
        data=expand("data/raw/{domain}", domain=INSTANCE["test_domains"]),
        code=code("score.instances"),
    output:
        "results/scores/instances/{mix}/{loss}.json",
    params:
        datasets=as_json({d: f"data/raw/{d}" for d in INSTANCE["test_domains"]}),
    log:
        "logs/score/instances/{mix}/{loss}.log",
    resources:
        **cluster("score"),
    shell:
        "realitygap instances score --predictions {input.predictions} --datasets {params.datasets:q} "
        "--out {output} 2> {log}"


INSTANCE_EXPLAINED = [f"results/instances/models/{mix}/{INSTANCE['loss']}/model.pth" for mix in INSTANCE["explain"]["mixes"]]
INSTANCE_EXPLANATIONS = "results/instances/explanations"


rule explain_instances:
    input:
        weights=INSTANCE_EXPLAINED,
        data=f"data/raw/{INSTANCE['explain']['domain']}",
        split=f"data/splits/{INSTANCE['explain']['domain']}.json",
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
    log:
        "logs/instances/explain.log",
    resources:
        **cluster("explain"),
    shell:
        "OMP_NUM_THREADS={threads} realitygap instances explain --weights-of {params.weights:q} "
        "--model {params.model:q} --categories {params.categories:q} --params {params.explain:q} "
        "--datasets {params.datasets:q} --seed {params.seed} --device {params.device} --out {output} 2> {log}"
