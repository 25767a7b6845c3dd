# One job per trained model predicts every test domain: the model and the libraries load once, not once a domain
# (a job's start is most of its time on the tiny profile).
rule predict:
    input:
        weights="results/models/{mix}/{model}/model.pth",
        datasets=[raw(d) for d in TEST_DOMAINS],
        splits=[split_file(d) for d in TEST_DOMAINS],
        code=code("predict.stage"),
    output:
        expand("results/predictions/{{mix}}/{{model}}/{domain}.npz", domain=TEST_DOMAINS),
    params:
        model=model_of("{model}"),
        size=SIZE,
        device=DEVICE,
    benchmark:
        "benchmarks/predict/{mix}/{model}.tsv",
    log:
        "logs/predict/{mix}/{model}.log",
    resources:
        **cluster("predict"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap predict --weights {input.weights} --model {params.model:q} "
        "--size {params.size} --device {params.device} --dataset {input.datasets} --split {input.splits} "
        "--out {output} 2> {log}"


rule score_segmentation:
    input:
        predictions="results/predictions/{mix}/{model}/{domain}.npz",
        code=code("score.matrix"),
    output:
        "results/scores/segmentation/{mix}/{model}/{domain}.json",
    benchmark:
        "benchmarks/score_segmentation/{mix}/{model}/{domain}.tsv",
    log:
        "logs/score/segmentation/{mix}/{model}/{domain}.log",
    resources:
        **cluster("score"),
    shell:
        "REALITYGAP_RULE={rule} realitygap score segmentation {input.predictions} --out {output} 2> {log}"


use rule predict as predict_replicate with:
    input:
        weights="results/replicates/{replicate}/models/{mix}/{model}/model.pth",
        datasets="data/raw/{domain}",
        splits="data/splits/{domain}.json",
        code=code("predict.stage"),
    output:
        "results/replicates/{replicate}/predictions/{mix}/{model}/{domain}.npz",
    benchmark:
        "benchmarks/predict_replicate/{replicate}/{mix}/{model}/{domain}.tsv",
    log:
        "logs/predict/{replicate}/{mix}/{model}/{domain}.log",


use rule score_segmentation as score_replicate with:
    input:
        predictions="results/replicates/{replicate}/predictions/{mix}/{model}/{domain}.npz",
        code=code("score.matrix"),
    output:
        "results/replicates/{replicate}/scores/{mix}/{model}/{domain}.json",
    benchmark:
        "benchmarks/score_replicate/{replicate}/{mix}/{model}/{domain}.tsv",
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
    benchmark:
        "benchmarks/score_matrix.tsv",
    log:
        "logs/score/matrix.log",
    resources:
        **cluster("score"),
    shell:
        "REALITYGAP_RULE={rule} realitygap score matrix {input.scores} --out {output.json} --csv {output.csv} 2> {log}"


rule score_policies:
    input:
        matrix="results/scores/matrix.json",
        replicates=replicate_scores(),
        code=code("score.policies"),
    output:
        "results/scores/policies.json",
    params:
        policies=as_json(POLICIES),
        extra=as_json({"simsearch": SEARCHED} | {mix: mix for mix in PSEUDO_MIXES + UDA_MIXES}),
        model=PRIMARY,
    benchmark:
        "benchmarks/score_policies.tsv",
    log:
        "logs/score/policies.log",
    resources:
        **cluster("score"),
    shell:
        "REALITYGAP_RULE={rule} realitygap score policies --matrix {input.matrix} --replicates {input.replicates} "
        "--policies {params.policies:q} --extra {params.extra:q} --model-name {params.model} --out {output} 2> {log}"


def quality_sets():
    """The training sets whose image quality is measured: the source mix's images (no augmentation),
    each policy's augmented copies (also the instance track's), and the reference domain's test images."""
    ref = IMAGE_QUALITY["reference"]
    sets = {f"no augmentation ({src['dataset'].split('/')[-1]})": {"dataset": src["dataset"], "split": src["split"]}
            for src in mix_sources(AUGMENT["source_mix"])}
    sets |= {p: {"dataset": f"data/augmented/{p}", "augmented": True} for p in POLICIES}
    sets |= {f"no augmentation ({INSTANCE_AUGMENT['source_mix']})": {"dataset": src["dataset"], "split": src["split"]}
             for src in mix_sources(INSTANCE_AUGMENT["source_mix"])[:1] if INSTANCE_AUGMENTED}
    sets |= {f"instances: {path.split('/')[-1]}": {"dataset": path, "augmented": True} for path in INSTANCE_AUGMENTED}
    return sets | {f"{ref} test": {"dataset": raw(ref), "split": split_file(ref), "subset": "test"}}


rule score_image_quality:
    input:
        weights=f"results/models/{IMAGE_QUALITY['mix']}/{PRIMARY}/model.pth",
        data=lambda wc: sorted({p for spec in quality_sets().values() for p in (spec["dataset"], spec.get("split")) if p}
                               | set(dataset_files(IMAGE_QUALITY["reference"]))),
        code=code("score.image_quality"),
    output:
        "results/scores/image_quality.json",
    params:
        quality=slice_of("image_quality"),
        reference=as_json(raw_source(IMAGE_QUALITY["reference"])),
        sets=lambda wc: as_json(quality_sets()),
        model=model_of(PRIMARY),
        size=SIZE,
        device=DEVICE,
        seed=SEED,
    benchmark:
        "benchmarks/score_image_quality.tsv",
    log:
        "logs/score/image_quality.log",
    resources:
        **cluster("score"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap score quality --weights {input.weights} --model {params.model:q} "
        "--size {params.size} --device {params.device} --reference {params.reference:q} --sets {params.sets:q} "
        "--params {params.quality:q} --seed {params.seed} --out {output} 2> {log}"
