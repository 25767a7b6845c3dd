rule train:
    input:
        mix_input_files,
    output:
        weights="results/models/{mix}/{model}/model.pth",
        summary="results/models/{mix}/{model}/train.json",
    params:
        sources=lambda wc: as_json(mix_sources(wc.mix)),
        val=lambda wc: as_json(mix_val_sources(wc.mix)),
        model=slice_of("train/models/{model}"),
        train=lambda wc: as_json({k: v for k, v in config["train"].items()
                                  if k not in ("models", "mixes", "primary_model")}),
        size=SIZE,
        seed=SEED,
        device=DEVICE,
    log:
        "logs/train/{mix}/{model}.log",
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "OMP_NUM_THREADS={threads} realitygap train --sources {params.sources:q} --val-sources {params.val:q} "
        "--model {params.model:q} --params {params.train:q} --size {params.size} --seed {params.seed} "
        "--mix {wildcards.mix} --name {wildcards.model} --device {params.device} "
        "--out results/models/{wildcards.mix}/{wildcards.model} > {log} 2>&1"
