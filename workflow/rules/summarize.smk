rule summarize:
    input:
        matrix="results/scores/matrix.json",
        policies="results/scores/policies.json",
        explanations=[f"results/explanations/{mix}/{model}/{method}" for mix, model, method in explained_runs([PRIMARY])],
        xai=[f"results/scores/explanations/{mix}/{model}/{method}.json"
             for mix, model, method in explained_runs(EXPLAINED)],
        diagnosis=expand("results/explanations/diagnosis/{model}/diagnosis.json", model=EXPLAINED),
        simsearch=f"{SEARCH_ROOT}/search.json",
        simsearch_figures=[f"{SEARCH_ROOT}/history.png", f"{SEARCH_ROOT}/importances.png"],
        experiments=EXPERIMENT_OUTPUTS,
        instances=INSTANCE_SCORES,
        instance_explanations=[INSTANCE_EXPLANATIONS] if INSTANCE["explain"]["mixes"] else [],
        instance_augmented=INSTANCE_AUGMENTED,
        pseudolabel=[f"{PL_ROOT}/steps.json", f"{PL_ROOT}/examples.png"],
        image_quality="results/scores/image_quality.json",
        frontier=f"results/explanations/frontier/{PRIMARY}",
        code=code("summarize.stage"),
    output:
        metrics="results/report/metrics.json",
        summary="results/report/summary.md",
        html=report("results/report/report.html", caption="../report/report_html.rst", category="Report"),
        gap_matrix=report("results/report/gap_matrix.png", caption="../report/gap_matrix.rst", category="Gap"),
        attribution_grid=report("results/report/attribution_grid.png", caption="../report/attribution_grid.rst",
                                category="Explanations"),
        gap_closure=report("results/report/gap_closure.png", caption="../report/gap_closure.rst",
                           category="Augmentation"),
        policy_attributions=report("results/report/policy_attributions.png",
                                   caption="../report/policy_attributions.rst", category="Augmentation"),
        counterfactuals=["results/report/counterfactuals.png"] if "counterfactual" in METHODS else [],
        factor_effects=["results/report/factor_effects.png"] if DIAGNOSE.get("transplant") else [],
        uda_figures=["results/report/uda_attributions.png"] if UDA_MIXES else [],
        instance_figures=["results/report/instance_gap.png", "results/report/instance_longtail.png"]
                         if INSTANCE_RUNS else [],
    params:
        summarize=lambda wc: as_json({"primary_model": PRIMARY, "methods": METHODS, "policies": POLICIES,
                                      "policy_methods": POLICY_METHODS, "unexplained_mixes": [SEARCHED],
                                      "pseudo_mixes": PSEUDO_MIXES, "uda_mixes": UDA_OF_MIX,
                                      **config["summarize"]}),
        everything=lambda wc: as_json({k: v for k, v in config.items() if k != "cluster"}),
    benchmark:
        "benchmarks/summarize.tsv",
    log:
        "logs/summarize.log",
    resources:
        **cluster("summarize"),
    shell:
        "REALITYGAP_RULE={rule} realitygap summarize --matrix {input.matrix} --policies {input.policies} --explanations results/explanations "
        "--xai-scores results/scores/explanations --diagnosis results/explanations/diagnosis --params {params.summarize:q} "
        "--all-params {params.everything:q} --simsearch {input.simsearch} --experiments " + EXP_ROOT + " "
        + ("--instances results/scores/instances " if INSTANCE_RUNS else "")
        + (f"--instance-explanations {INSTANCE_EXPLANATIONS} " if INSTANCE["explain"]["mixes"] else "")
        + ("--instance-augmented data/augmented/instances " if INSTANCE_AUGMENTED else "")
        + f"--pseudolabel {PL_ROOT} --image-quality {{input.image_quality}} --frontier {{input.frontier}} --out results/report 2> {{log}}"
