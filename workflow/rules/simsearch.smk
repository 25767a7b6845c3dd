# The render search (Optuna): worker jobs share one study stored under results/simsearch, the report
# picks the best look, and the `searched` domain is rendered with it for a full-budget retraining.
SEARCH_ROOT = "results/simsearch"


wildcard_constraints:
    worker=r"\d+",


def search_render(wc=None):
    """Size, scene parameters, the class set and the base domain's look: what every trial renders from."""
    base = config["render"]["domains"].get(SEARCH["base"], {})     # an ingested base: the plugin's own defaults
    return as_json({"size": SIZE, "scene": config["render"]["scene"], "classes": config["classes"], "base": base})


def search_params(wc=None):
    """The search's params slice without what only schedules it (workers, cluster resources)."""
    return as_json({k: v for k, v in SEARCH.items() if k != "workers"})


DIAGNOSIS = f"results/explanations/diagnosis/{PRIMARY}/diagnosis.json"
DIAGNOSED_START = [DIAGNOSIS] if SEARCH.get("diagnosed_start") else []   # the search waits for the diagnosis


def search_diagnosis(wc=None):
    """The diagnosis the search starts from, and the target domain's look its top causes move toward."""
    target = config["render"]["domains"].get(SEARCH["target"], {})
    return shlex.join(["--diagnosis", as_json({"file": DIAGNOSIS, "target": target})]) if DIAGNOSED_START else ""


SEARCH_ARGS = dict(
    diagnosis=search_diagnosis,
    search=search_params,
    render=search_render,
    train=lambda wc: as_json(train_params()),
    model=lambda wc: as_json(model_entry(PRIMARY)),
    val=lambda wc: as_json([raw_source(SEARCH["target"])]),
    seed=SEED,
    device=DEVICE,
)


rule simsearch_worker:
    input:
        *dataset_files(SEARCH["target"]),
        DIAGNOSED_START,
        code=code("simsearch.study"),
    output:
        f"{SEARCH_ROOT}/workers/{{worker}}.json",
    params:
        **SEARCH_ARGS,
    benchmark:
        "benchmarks/simsearch_worker/{worker}.tsv",
    log:
        "logs/simsearch/worker{worker}.log",
    threads: 1
    priority: 2     # the search, the best look's render and its trainings are as long a chain as the policies'
    resources:
        **cluster("simsearch"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap simsearch worker --params {params.search:q} --render {params.render:q} "
        "--train {params.train:q} --model {params.model:q} --val-sources {params.val:q} --seed {params.seed} "
        "--device {params.device} {params.diagnosis} --root " + SEARCH_ROOT + " --worker {wildcards.worker} --out {output} > {log} 2>&1"


rule simsearch_report:
    input:
        workers=expand(f"{SEARCH_ROOT}/workers/{{worker}}.json", worker=range(SEARCH["workers"])),
        diagnosis=DIAGNOSED_START,
        code=code("simsearch.report"),
    output:
        search=f"{SEARCH_ROOT}/search.json",
        look=f"{SEARCH_ROOT}/best_look.json",
        override=f"{SEARCH_ROOT}/best_params.yaml",
        history=report(f"{SEARCH_ROOT}/history.png", caption="../report/simsearch_history.rst", category="Render search"),
        importances=report(f"{SEARCH_ROOT}/importances.png", caption="../report/simsearch_importances.rst",
                           category="Render search"),
    params:
        **SEARCH_ARGS,
    benchmark:
        "benchmarks/simsearch_report.tsv",
    log:
        "logs/simsearch/report.log",
    priority: 2
    resources:
        **cluster("simsearch"),
    shell:
        "REALITYGAP_RULE={rule} realitygap simsearch report --params {params.search:q} --render {params.render:q} --train {params.train:q} "
        "--model {params.model:q} --val-sources {params.val:q} --seed {params.seed} {params.diagnosis} --root " + SEARCH_ROOT + " "
        "--out " + SEARCH_ROOT + " 2> {log}"


rule render_searched:
    input:
        look=f"{SEARCH_ROOT}/best_look.json",
        code=code("renderers"),
    output:
        directory(raw(SEARCHED)),
    params:
        search=lambda wc: as_json({"renderer": SEARCH["renderer"], "base": SEARCH["base"]}),
        render=search_render,
        images=lambda wc: config["render"]["count"].get(SEARCH["base"], SEARCH["count"]),   # ingested base: a trial's count
        seed=SEED,
    benchmark:
        "benchmarks/render_searched.tsv",
    log:
        f"logs/render/{SEARCHED}.log",
    priority: 2
    resources:
        **cluster("render"),
    shell:
        "REALITYGAP_RULE={rule} realitygap simsearch render --params {params.search:q} --render {params.render:q} --look {input.look} "
        "--count {params.images} --seed {params.seed} --out {output} 2> {log}"
