rule summarize:
    input:
        matrix="results/scores/matrix.json",
        explanations=expand("results/explanations/{mix}/{model}/{method}", mix=MIXES, model=PRIMARY,
                            method=METHODS),
        xai=expand("results/scores/explanations/{mix}/{model}/{method}.json", mix=MIXES, model=EXPLAINED,
                   method=METHODS),
        diagnosis=expand("results/explanations/diagnosis/{model}/diagnosis.json", model=EXPLAINED),
    output:
        REPORT,
    params:
        summarize=lambda wc: as_json({"primary_model": PRIMARY, "methods": METHODS, "policies": POLICIES,
                                      **config["summarize"]}),
        everything=lambda wc: as_json(config),
    log:
        "logs/summarize.log",
    shell:
        "realitygap summarize --matrix {input.matrix} --explanations results/explanations "
        "--xai-scores results/scores/explanations --diagnosis results/explanations/diagnosis --params {params.summarize:q} "
        "--all-params {params.everything:q} --out results/report 2> {log}"
