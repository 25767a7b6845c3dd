# The generative frontier explorer: VAE walks from source to target test images, with a domain classifier.
FRONTIER = config["frontier"]


def frontier_domains():
    """The walk's ends: the first domain of the source mix and of the target mix."""
    return {role: next(iter(config["train"]["mixes"][FRONTIER[f"{role}_mix"]])) for role in ("source", "target")}


rule explain_frontier:
    input:
        data=lambda wc: dataset_files(*frontier_domains().values()),
        weights=[f"results/models/{FRONTIER[k]}/{PRIMARY}/model.pth" for k in ("source_mix", "target_mix")],
        code=code("frontier.stage"),
    output:
        directory(f"results/explanations/frontier/{PRIMARY}"),
    params:
        frontier=slice_of("frontier"),
        datasets=lambda wc: as_json({r: [raw(d), split_file(d)] for r, d in frontier_domains().items()}),
        weights=lambda wc: as_json({FRONTIER[k]: f"results/models/{FRONTIER[k]}/{PRIMARY}/model.pth"
                                    for k in ("source_mix", "target_mix")}),
        model=model_of(PRIMARY),
        size=SIZE,
        seed=SEED,
        device=DEVICE,
    benchmark:
        "benchmarks/explain_frontier.tsv",
    log:
        "logs/explain/frontier.log",
    resources:
        **cluster("frontier"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap frontier --datasets {params.datasets:q} --weights {params.weights:q} "
        "--model {params.model:q} --params {params.frontier:q} --size {params.size} --seed {params.seed} "
        "--device {params.device} --out {output} 2> {log}"
