rule render:
    output:
        directory("data/raw/{domain}"),
    params:
        render=lambda wc: as_json({
            "size": SIZE, "scene": config["render"]["scene"],
            "count": lookup(dpath=f"render/count/{wc.domain}", within=config),
            "factors": lookup(dpath=f"render/domains/{wc.domain}", within=config)}),
        seed=SEED,
    log:
        "logs/render/{domain}.log",
    threads: 2
    shell:
        "realitygap render --domain {wildcards.domain} --params {params.render:q} --seed {params.seed} "
        "--jobs {threads} --out {output} 2> {log}"


rule split:
    input:
        "data/raw/{domain}",
    output:
        "data/splits/{domain}.json",
    params:
        split=slice_of("split"),
        seed=SEED,
    log:
        "logs/split/{domain}.log",
    shell:
        "realitygap split --dataset {input} --params {params.split:q} --seed {params.seed} "
        "--out {output} 2> {log}"
