def explain_params(wc):
    """The explain params of one method's job: the shared settings and that method's options only."""
    return as_json({k: v for k, v in config["explain"].items() if k not in ("methods", "models", "domains", "options")}
                   | {"options": {wc.method: config["explain"].get("options", {}).get(wc.method, {})}})


rule explain:
    input:
        weights="results/models/{mix}/{explained}/model.pth",
        data=lambda wc: [p for pair in explain_datasets().values() for p in pair],
        code=code("explain.stage"),
    output:
        directory("results/explanations/{mix}/{explained}/{method}"),
    params:
        explain=explain_params,
        datasets=lambda wc: as_json(explain_datasets()),
        model=model_of("{explained}"),
        size=SIZE,
        seed=SEED,
        device=DEVICE,
    benchmark:
        "benchmarks/explain/{mix}/{explained}/{method}.tsv",
    log:
        "logs/explain/{mix}/{explained}/{method}.log",
    priority: 1     # the diagnosis, and the XAI-guided policy after it, wait on these: start them early
    resources:
        **cluster("explain"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap explain --weights {input.weights} --model {params.model:q} "
        "--size {params.size} --device {params.device} --method {wildcards.method} --seed {params.seed} "
        "--params {params.explain:q} --datasets {params.datasets:q} --out {output} 2> {log}"


rule score_explanations:
    input:
        maps="results/explanations/{mix}/{explained}/{method}",
        weights="results/models/{mix}/{explained}/model.pth",
        code=code("score.stage"),
    output:
        "results/scores/explanations/{mix}/{explained}/{method}.json",
    params:
        datasets=lambda wc: as_json({d: raw(d) for d in config["explain"]["domains"]}),
        model=model_of("{explained}"),
        score=lambda wc: as_json({k: v for k, v in config["score"].items() if k != "xai_classes"}),
        size=SIZE,
        device=DEVICE,
    benchmark:
        "benchmarks/score_explanations/{mix}/{explained}/{method}.tsv",
    log:
        "logs/score/explanations/{mix}/{explained}/{method}.log",
    resources:
        **cluster("score"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap score explanations {input.maps} --weights {input.weights} "
        "--model {params.model:q} --size {params.size} --device {params.device} "
        "--datasets {params.datasets:q} --params {params.score:q} --out {output} 2> {log}"


def diagnose_explanations(wc):
    return {m: [f"results/explanations/{DIAGNOSE[k]}/{wc.explained}/{m}" for k in ("source_mix", "target_mix")]
            for m in METHODS}


DIAGNOSED = [next(iter(config["train"]["mixes"][DIAGNOSE[k]])) for k in ("source_mix", "target_mix")]
"""The source and target domains the diagnosis compares: the first domain of each mix."""


rule diagnose:
    input:
        test_sets=[f for d in DIAGNOSED for f in (raw(d), split_file(d))],
        explanations=lambda wc: [p for pair in diagnose_explanations(wc).values() for p in pair],
        source="results/models/" + DIAGNOSE["source_mix"] + "/{explained}/model.pth",
        target="results/models/" + DIAGNOSE["target_mix"] + "/{explained}/model.pth",
        code=code("diagnose.stage"),
    output:
        "results/explanations/diagnosis/{explained}/diagnosis.json",
    params:
        diagnose=slice_of("diagnose"),
        explanations=lambda wc: as_json(diagnose_explanations(wc)),
        datasets=lambda wc: as_json({d: raw(d) for d in config["explain"]["domains"]}),
        domains=DIAGNOSED,
        model=model_of("{explained}"),
        size=SIZE,
        device=DEVICE,
        renderer=lambda wc: as_json({"renderer": SEARCH["renderer"], "render": json.loads(search_render())}),
        test_sets=lambda wc: as_json({role: [raw(d), split_file(d)] for role, d in zip(("source", "target"), DIAGNOSED)}),
        seed=SEED,
        train=lambda wc: as_json(train_params() if DIAGNOSE.get("finetune") else None),   # what it fine-tunes with
    benchmark:
        "benchmarks/diagnose/{explained}.tsv",
    log:
        "logs/diagnose/{explained}.log",
    priority: 2
    resources:
        **cluster("diagnose"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap diagnose --source-weights {input.source} "
        "--target-weights {input.target} --model {params.model:q} --size {params.size} "
        "--device {params.device} --explanations {params.explanations:q} --datasets {params.datasets:q} "
        "--source-domain {params.domains[0]} --target-domain {params.domains[1]} "
        "--renderer {params.renderer:q} --test-sets {params.test_sets:q} --seed {params.seed} --params {params.diagnose:q} "
        "--train-params {params.train:q} --out {output} > {log} 2>&1"   # its fine-tunings log as trainings do
