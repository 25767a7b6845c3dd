rule augment:
    input:
        lambda wc: [p for src in mix_sources(config["augment"]["source_mix"])
                    for p in (src["dataset"], src["split"])],
    output:
        directory("data/augmented/{policy}"),
    params:
        policy=slice_of("augment/policies/{policy}"),
        sources=lambda wc: as_json(mix_sources(config["augment"]["source_mix"])),
        seed=SEED,
    log:
        "logs/augment/{policy}.log",
    shell:
        "realitygap augment --policy {wildcards.policy} --params {params.policy:q} "
        "--sources {params.sources:q} --seed {params.seed} --out {output} 2> {log}"
