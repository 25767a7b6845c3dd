rule explain:
    input:
        weights="results/models/{mix}/{model}/model.pth",
        data=lambda wc: [p for pair in explain_datasets().values() for p in pair],
    output:
        directory("results/explanations/{mix}/{model}/{method}"),
    params:
        explain=slice_of("explain"),
        datasets=lambda wc: as_json(explain_datasets()),
        model=slice_of("train/models/{model}"),
        size=SIZE,
        device=DEVICE,
    log:
        "logs/explain/{mix}/{model}/{method}.log",
    shell:
        "OMP_NUM_THREADS={threads} realitygap explain --weights {input.weights} --model {params.model:q} "
        "--size {params.size} --device {params.device} --method {wildcards.method} "
        "--params {params.explain:q} --datasets {params.datasets:q} --out {output} 2> {log}"


rule score_explanations:
    input:
        maps="results/explanations/{mix}/{model}/{method}",
        weights="results/models/{mix}/{model}/model.pth",
    output:
        "results/scores/explanations/{mix}/{model}/{method}.json",
    params:
        datasets=lambda wc: as_json({d: f"data/raw/{d}" for d in config["explain"]["domains"]}),
        model=slice_of("train/models/{model}"),
        size=SIZE,
        device=DEVICE,
    log:
        "logs/score/explanations/{mix}/{model}/{method}.log",
    shell:
        "OMP_NUM_THREADS={threads} realitygap score explanations {input.maps} --weights {input.weights} "
        "--model {params.model:q} --size {params.size} --device {params.device} "
        "--datasets {params.datasets:q} --out {output} 2> {log}"
