# Ablations (params `experiments`): every variant of the grid is trained on the source and target mixes at
# each seed through the train rule, scored on its training images, each test split and each group, and its
# source-mix model explained; the spurious-correlation probe renders its data sets through the render
# stage, trains at each strength and measures the score drop and the attribution on the cue.
from realitygap.variants import expand_variants

EXP = config["experiments"]
EXP_ROOT = "results/experiments"
VARIANTS = {name: entry | {"num_classes": NUM_CLASSES} for name, entry in expand_variants(EXP).items()}
EXP_SEEDS = [f"seed{k}" for k in range(EXP["seeds"])]
EXP_MIXES = [EXP["source_mix"], EXP["target_mix"]]
PROBE = EXP.get("probe") or {}
STRENGTHS = {f"p{round(s * 100):03d}": s for s in PROBE.get("strengths", [])}
PROBE_SETS = [f"{kind}_{tag}" for tag in STRENGTHS for kind in ("train", "test")] + ["test_broken", "test_beside"]


wildcard_constraints:
    variant="|".join(VARIANTS),
    exp_seed="|".join(EXP_SEEDS),
    strength="|".join(STRENGTHS) or "(?!)",
    probe_set="|".join(PROBE_SETS) or "(?!)",


def experiment_train(wc=None):
    """The train params at the grid's reduced budget."""
    cfg = train_params()
    return as_json(cfg | {"iters": EXP["iters"], "batch_size": EXP["batch_size"],
                          "checkpoint_interval": min(cfg["checkpoint_interval"], EXP["iters"])})


def experiment_seed(wc):
    return SEED + int(wc.exp_seed[len("seed"):])


def mix_domains(mix):
    return list(config["train"]["mixes"][mix])


use rule train as train_variant with:
    output:
        weights=EXP_ROOT + "/ablations/{variant}/{exp_seed}/{mix}/model.pth",
        summary=EXP_ROOT + "/ablations/{variant}/{exp_seed}/{mix}/train.json",
    params:
        sources=lambda wc: as_json(mix_sources(wc.mix)),
        val=lambda wc: as_json(mix_val_sources(wc.mix)),
        model=lambda wc: as_json(VARIANTS[wc.variant]),
        train=experiment_train,
        size=SIZE,
        seed=experiment_seed,
        device=DEVICE,
        out=lambda wc, output: os.path.dirname(output.weights),
        mix=lambda wc: wc.mix,
        name=lambda wc: wc.variant,
    benchmark:
        "benchmarks/train_variant/{variant}/{exp_seed}/{mix}.tsv",
    log:
        "logs/experiments/{variant}/{exp_seed}/{mix}/train.log",
    priority: 0
    resources:
        **cluster("experiments"),


rule evaluate_variant:
    input:
        weights=EXP_ROOT + "/ablations/{variant}/{exp_seed}/{mix}/model.pth",
        data=lambda wc: mix_input_files(wc) + [f for pair in split_datasets(TEST_DOMAINS).values() for f in pair],
        code=code("experiments.evaluate"),
    output:
        EXP_ROOT + "/ablations/{variant}/{exp_seed}/{mix}/scores.json",
    params:
        model=lambda wc: as_json(VARIANTS[wc.variant]),
        sources=lambda wc: as_json(mix_sources(wc.mix)),
        test=as_json(split_datasets(TEST_DOMAINS)),
        groups=as_json({k: EXP[k] for k in ("groups", "min_group_images")}),
        size=SIZE,
        seed=experiment_seed,
        device=DEVICE,
    benchmark:
        "benchmarks/evaluate_variant/{variant}/{exp_seed}/{mix}.tsv",
    log:
        "logs/experiments/{variant}/{exp_seed}/{mix}/evaluate.log",
    resources:
        **cluster("experiments"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap experiments evaluate --weights {input.weights} --model {params.model:q} "
        "--size {params.size} --device {params.device} --seed {params.seed} --sources {params.sources:q} "
        "--test {params.test:q} --params {params.groups:q} --out {output} 2> {log}"


use rule explain as explain_variant with:
    input:
        weights=EXP_ROOT + "/ablations/{variant}/" + EXP_SEEDS[0] + "/" + EXP["source_mix"] + "/model.pth",
        data=lambda wc: [p for pair in explain_datasets().values() for p in pair],
        code=code("explain.stage"),
    output:
        directory(EXP_ROOT + "/ablations/{variant}/explanations/{method}"),
    params:
        explain=explain_params,
        datasets=lambda wc: as_json(explain_datasets()),
        model=lambda wc: as_json(VARIANTS[wc.variant]),
        size=SIZE,
        seed=SEED,
        device=DEVICE,
    benchmark:
        "benchmarks/explain_variant/{variant}/{method}.tsv",
    log:
        "logs/experiments/{variant}/explain/{method}.log",
    priority: 0


def probe_render(wc):
    """Render params of a probe set: the probe domain's look with the tint beside seams with the set's
    strength (every tint on its decoy band for `test_broken`, beside its seam for `test_beside`); test sets
    draw scenes of their own."""
    kind, tag = wc.probe_set.split("_")
    strength = {"broken": 0.0, "beside": 1.0}[tag] if tag in ("broken", "beside") else STRENGTHS[tag]
    look = {k: v for k, v in at(f"render/domains/{PROBE['domain']}").items() if k != "randomise"}
    return as_json({"size": SIZE, "scene": config["render"]["scene"], "count": PROBE["count" if kind == "train" else "test_count"],
                    "factors": look | {"seam_tint": PROBE["seam_tint"], "tint_decoy": round(1 - strength, 6)},
                    "randomise": at(f"render/domains/{PROBE['domain']}").get("randomise", {}),
                    "scene_domain": f"{PROBE['domain']}_probe_{kind}"})


use rule render as render_probe with:
    output:
        directory("data/probe/{probe_set}"),
    params:
        render=probe_render,
        seed=SEED,
        domain=lambda wc: f"probe_{wc.probe_set}",
    benchmark:
        "benchmarks/render_probe/{probe_set}.tsv",
    log:
        "logs/render/probe_{probe_set}.log",


use rule train as train_probe with:
    input:
        "data/probe/train_{strength}",
        code=code("train.stage"),
    output:
        weights=EXP_ROOT + "/probe/{strength}/model.pth",
        summary=EXP_ROOT + "/probe/{strength}/train.json",
    params:
        sources=lambda wc: as_json([{"dataset": f"data/probe/train_{wc.strength}", "split": None, "fraction": 1.0}]),
        val=as_json([]),
        model=as_json(EXP["base"] | {"num_classes": NUM_CLASSES}),
        train=experiment_train,
        size=SIZE,
        seed=SEED,
        device=DEVICE,
        out=lambda wc, output: os.path.dirname(output.weights),
        mix=lambda wc: f"probe_{wc.strength}",
        name="base",
    benchmark:
        "benchmarks/train_probe/{strength}.tsv",
    log:
        "logs/experiments/probe/{strength}/train.log",
    priority: 0
    resources:
        **cluster("experiments"),


rule probe:
    input:
        weights=EXP_ROOT + "/probe/{strength}/model.pth",
        correlated="data/probe/test_{strength}",
        broken="data/probe/test_broken",
        beside="data/probe/test_beside",
        code=code("experiments.probe"),
    output:
        EXP_ROOT + "/probe/{strength}/probe.json",
    params:
        model=as_json(EXP["base"] | {"num_classes": NUM_CLASSES}),
        strength=lambda wc: STRENGTHS[wc.strength],
        probe=lambda wc: as_json({"method": PROBE["method"], "num_images": PROBE["num_images"],
                                  "explain": {k: v for k, v in config["explain"].items() if k in ("target_layer", "batch_size")}
                                  | {"options": {PROBE["method"]: config["explain"].get("options", {}).get(PROBE["method"], {})}}}),
        size=SIZE,
        seed=SEED,
        device=DEVICE,
    benchmark:
        "benchmarks/probe/{strength}.tsv",
    log:
        "logs/experiments/probe/{strength}/probe.log",
    resources:
        **cluster("experiments"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap experiments probe --weights {input.weights} --model {params.model:q} "
        "--size {params.size} --device {params.device} --seed {params.seed} --strength {params.strength} "
        "--correlated {input.correlated} --broken {input.broken} --beside {input.beside} --params {params.probe:q} --out {output} 2> {log}"


EXPERIMENT_OUTPUTS = expand(EXP_ROOT + "/{name}", name=["ablations.json", "ablations.png"]
                            + (["probe.json", "probe.png"] if STRENGTHS else []))


rule experiments_report:
    input:
        scores=expand(EXP_ROOT + "/ablations/{variant}/{exp_seed}/{mix}/scores.json", variant=VARIANTS,
                      exp_seed=EXP_SEEDS, mix=EXP_MIXES),
        probes=expand(EXP_ROOT + "/probe/{strength}/probe.json", strength=STRENGTHS),
        explanations=expand(EXP_ROOT + "/ablations/{variant}/explanations/{method}", variant=VARIANTS,
                            method=EXP.get("explain_methods", [])),
        code=code("chapters.experiments"),
    output:
        EXPERIMENT_OUTPUTS,
    params:
        report=as_json({"source_mix": EXP["source_mix"], "target_mix": EXP["target_mix"],
                        "source_domains": mix_domains(EXP["source_mix"]),
                        "target_domains": mix_domains(EXP["target_mix"])}),
    benchmark:
        "benchmarks/experiments_report.tsv",
    log:
        "logs/experiments/report.log",
    resources:
        **cluster("experiments"),
    shell:
        "REALITYGAP_RULE={rule} realitygap experiments report --scores {input.scores} --probes {input.probes} --params {params.report:q} "
        "--out " + EXP_ROOT + " 2> {log}"
