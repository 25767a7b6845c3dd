rule render:
    input:
        code=code("render.stage"),
    output:
        directory("data/raw/{rendered}"),
    params:
        render=lambda wc: as_json({
            "size": SIZE, "scene": config["render"]["scene"],
            "count": at(f"render/count/{wc.rendered}"),
            "factors": {k: v for k, v in at(f"render/domains/{wc.rendered}").items() if k != "randomise"},
            "randomise": at(f"render/domains/{wc.rendered}").get("randomise", {})}),
        seed=SEED,
        domain=lambda wc: wc.rendered,
    benchmark:
        "benchmarks/render/{rendered}.tsv",
    log:
        "logs/render/{rendered}.log",
    threads: 2
    resources:
        **cluster("render"),
    shell:
        "REALITYGAP_RULE={rule} realitygap render --domain {params.domain} --params {params.render:q} --seed {params.seed} "
        "--jobs {threads} --out {output} 2> {log}"


def ingest_files(wc):
    spec = config["ingest"][wc.ingested]
    return [spec[k] for k in ("images", "masks", "coco", "tags", "depth", "render_params") if k in spec]


def ingest_args(wc):
    spec = config["ingest"][wc.ingested]
    args = ["--format", spec["format"], "--images", spec["images"]]
    for key in ("masks", "coco", "tags", "depth", "render_params"):
        args += [f"--{key.replace('_', '-')}", spec[key]] if key in spec else []
    args += ["--factors", as_json(spec["factors"])] if "factors" in spec else []
    return shlex.join(args + ["--class-map", as_json(spec.get("class_map", {})), "--classes", as_json(config["classes"])])


rule ingest:
    input:
        ingest_files,
        code=code("ingest.stage"),
    output:
        directory("data/raw/{ingested}"),
    params:
        args=ingest_args,
    benchmark:
        "benchmarks/ingest/{ingested}.tsv",
    log:
        "logs/ingest/{ingested}.log",
    resources:
        **cluster("ingest"),
    shell:
        "REALITYGAP_RULE={rule} realitygap ingest --domain {wildcards.ingested} {params.args} --out {output} 2> {log}"


rule split:
    input:
        dataset="data/raw/{domain}",
        code=code("split.stage"),
    output:
        "data/splits/{domain}.json",
    params:
        split=lambda wc: as_json({"fractions": config["split"].get("domains", {}).get(wc.domain, config["split"]["fractions"])}),
        seed=SEED,
    benchmark:
        "benchmarks/split/{domain}.tsv",
    log:
        "logs/split/{domain}.log",
    resources:
        **cluster("split"),
    shell:
        "REALITYGAP_RULE={rule} realitygap split --dataset {input.dataset} --params {params.split:q} --seed {params.seed} "
        "--out {output} 2> {log}"
