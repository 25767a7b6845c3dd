rule predict:
    input:
        weights="results/models/{mix}/{model}/model.pth",
        dataset="data/raw/{domain}",
        split="data/splits/{domain}.json",
        code=code("predict.stage"),
    output:
        "results/predictions/{mix}/{model}/{domain}.npz",
    params:
        model=slice_of("train/models/{model}"),
        size=SIZE,
        device=DEVICE,
    log:
        "logs/predict/{mix}/{model}/{domain}.log",
    resources:
        **cluster("predict"),
    shell:
        "OMP_NUM_THREADS={threads} realitygap predict --weights {input.weights} --model {params.model:q} "
        "--size {params.size} --device {params.device} --dataset {input.dataset} --split {input.split} "
        "--out {output} 2> {log}"


rule score_segmentation:
    input:
        predictions="results/predictions/{mix}/{model}/{domain}.npz",
        code=code("score.matrix"),
    output:
        "results/scores/segmentation/{mix}/{model}/{domain}.json",
    log:
        "logs/score/segmentation/{mix}/{model}/{domain}.log",
    resources:
        **cluster("score"),
    shell:
        "realitygap score segmentation {input.predictions} --out {output} 2> {log}"


use rule predict as predict_replicate with:
    input:
        weights="results/replicates/{replicate}/models/{mix}/{model}/model.pth",
        dataset="data/raw/{domain}",
        split="data/splits/{domain}.json",
        code=code("predict.stage"),
    output:
        "results/replicates/{replicate}/predictions/{mix}/{model}/{domain}.npz",
    log:
        "logs/predict/{replicate}/{mix}/{model}/{domain}.log",


use rule score_segmentation as score_replicate with:
    input:
        predictions="results/replicates/{replicate}/predictions/{mix}/{model}/{domain}.npz",
        code=code("score.matrix"),
    output:
        "results/replicates/{replicate}/scores/{mix}/{model}/{domain}.json",
    log:
        "logs/score/segmentation/{replicate}/{mix}/{model}/{domain}.log",


rule score_matrix:
    input:
        scores=[f"results/scores/segmentation/{mix}/{model}/{domain}.json"
                for mix, model in trained_models() for domain in TEST_DOMAINS],
        code=code("score.matrix"),
    output:
        json="results/scores/matrix.json",
        csv="results/scores/matrix.csv",
    log:
        "logs/score/matrix.log",
    resources:
        **cluster("score"),
    shell:
        "realitygap score matrix {input.scores} --out {output.json} --csv {output.csv} 2> {log}"


rule score_policies:
    input:
        matrix="results/scores/matrix.json",
        replicates=replicate_scores(),
        code=code("score.policies"),
    output:
        "results/scores/policies.json",
    params:
        policies=as_json(POLICIES),
        extra=as_json({"simsearch": SEARCHED} | {mix: mix for mix in PSEUDO_MIXES}),
        model=PRIMARY,
    log:
        "logs/score/policies.log",
    resources:
        **cluster("score"),
    shell:
        "realitygap score policies --matrix {input.matrix} --replicates {input.replicates} "
        "--policies {params.policies:q} --extra {params.extra:q} --model-name {params.model} --out {output} 2> {log}"
