def policy_slice(wc):
    """The policy's params entry and those of the policies it composes (its only params trigger)."""
    policies = AUGMENT["policies"]
    names = [wc.policy] + policies[wc.policy].get("compose", [])
    return {n: policies[n] for n in names}


def policy_types(wc):
    return {cfg.get("type", n) for n, cfg in policy_slice(wc).items()}


MODEL_POLICIES = {"xai_guided", "counterfactual"}    # policy types that read the source model


def augment_inputs(wc):
    """Source datasets and splits, the reference domain's, the diagnosis for xai_guided, the source model for
    the policies that read it."""
    files = [p for src in mix_sources(AUGMENT["source_mix"]) for p in (src["dataset"], src["split"])]
    if "reference_domain" in AUGMENT:
        files += dataset_files(AUGMENT["reference_domain"])
    if "xai_guided" in policy_types(wc):
        files += [f"results/explanations/diagnosis/{PRIMARY}/diagnosis.json"]
    if policy_types(wc) & MODEL_POLICIES:
        files += [f"results/models/{AUGMENT['source_mix']}/{PRIMARY}/model.pth"]
    return files


def augment_context(wc):
    """Command-line options for what the policy may use besides its params."""
    args = []
    if "reference_domain" in AUGMENT:
        args += ["--references", as_json([raw_source(AUGMENT["reference_domain"])])]
    if "xai_guided" in policy_types(wc):
        args += ["--diagnosis", f"results/explanations/diagnosis/{PRIMARY}/diagnosis.json"]
    if policy_types(wc) & MODEL_POLICIES:
        args += ["--source-model", as_json({"weights": f"results/models/{AUGMENT['source_mix']}/{PRIMARY}/model.pth",
                                            "model": model_entry(PRIMARY), "size": SIZE,
                                            "device": DEVICE})]
    if policy_types(wc) & {"randomise", "xai_guided"} and SEARCH["renderer"]["type"] != "builtin":   # re-render
        args += ["--renderer", as_json({"renderer": SEARCH["renderer"], "render": json.loads(search_render())})]
    return shlex.join(args)


rule augment:
    input:
        augment_inputs,
        code=code("augment.stage"),
    output:
        directory("data/augmented/{policy}"),
    params:
        policies=lambda wc: as_json(policy_slice(wc)),
        sources=lambda wc: as_json(mix_sources(AUGMENT["source_mix"])),
        context=augment_context,
        copies=AUGMENT["copies"],
        keep="--keep-source" if AUGMENT["keep_source"] else "",
        seed=SEED,
    benchmark:
        "benchmarks/augment/{policy}.tsv",
    log:
        "logs/augment/{policy}.log",
    priority: 2     # the policies' trainings are the longest chain of the DAG
    resources:
        **cluster("augment"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap augment --policy {wildcards.policy} --policies {params.policies:q} "
        "--sources {params.sources:q} --copies {params.copies} {params.keep} {params.context} "
        "--seed {params.seed} --out {output} 2> {log}"
