rule train:
    input:
        mix_input_files,
        model_files,
        start=uda_start,
        code=code("train.stage"),
    output:
        weights="results/models/{mix}/{model}/model.pth",
        summary="results/models/{mix}/{model}/train.json",
    params:
        sources=lambda wc: as_json(mix_sources(wc.mix)),
        val=lambda wc: as_json(mix_val_sources(wc.mix)),
        model=model_of("{model}"),
        train=lambda wc: as_json(train_params()),
        size=SIZE,
        seed=training_seed,
        device=DEVICE,
        out=lambda wc, output: os.path.dirname(output.weights),
        mix=lambda wc: wc.mix,
        name=lambda wc: wc.model,
        uda=uda_args,
    benchmark:
        "benchmarks/train/{mix}/{model}.tsv",
    log:
        "logs/train/{mix}/{model}.log",
    # One thread per training: a second thread speeds a step up 1.6x, not 2x (bench/train_step.py), so
    # on a CPU two 1-thread trainings side by side get more done than one 2-thread training.
    threads: 1
    priority: 1     # the main models first: explanations and the diagnosis wait on them, replicates do not
    resources:
        **cluster("train"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap train --sources {params.sources:q} --val-sources {params.val:q} "
        "--model {params.model:q} --params {params.train:q} --size {params.size} --seed {params.seed} "
        "--mix {params.mix} --name {params.name} --device {params.device} {params.uda} "
        "--out {params.out} > {log} 2>&1"


use rule train as train_replicate with:
    output:
        weights="results/replicates/{replicate}/models/{mix}/{model}/model.pth",
        summary="results/replicates/{replicate}/models/{mix}/{model}/train.json",
    benchmark:
        "benchmarks/train_replicate/{replicate}/{mix}/{model}.tsv",
    log:
        "logs/train/{replicate}/{mix}/{model}.log",
    priority: 0
