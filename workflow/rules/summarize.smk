rule summarize:
    input:
        matrix="results/scores/matrix.json",
        policies="results/scores/policies.json",
        explanations=[f"results/explanations/{mix}/{model}/{method}" for mix, model, method in explained_runs([PRIMARY])],
        xai=[f"results/scores/explanations/{mix}/{model}/{method}.json"
             for mix, model, method in explained_runs(EXPLAINED)],
        diagnosis=expand("results/explanations/diagnosis/{model}/diagnosis.json", model=EXPLAINED),
    output:
        REPORT,
    params:
        summarize=lambda wc: as_json({"primary_model": PRIMARY, "methods": METHODS, "policies": POLICIES,
                                      "policy_methods": POLICY_METHODS, **config["summarize"]}),
        everything=lambda wc: as_json(config),
    log:
        "logs/summarize.log",
    shell:
        "realitygap summarize --matrix {input.matrix} --policies {input.policies} --explanations results/explanations "
        "--xai-scores results/scores/explanations --diagnosis results/explanations/diagnosis --params {params.summarize:q} "
        "--all-params {params.everything:q} --out results/report 2> {log}"
