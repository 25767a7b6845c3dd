# Pseudo-labels for a domain without pixel labels: tag classifier -> CAM priors -> dense CRF -> affinity random
# walk -> data/pseudolabel/<domain>, a dataset that the mixes of `pseudolabel/mixes` train on (train.smk).
PL_TARGET = PSEUDO["domain"]
PL_ROOT = f"results/pseudolabel/{PL_TARGET}"
PL_WITNESS = f"results/models/{PSEUDO['witness_mix']}/{PRIMARY}/model.pth"
PL_LABEL_KEYS = ("contradiction", "cams", "background", "saliency", "crf", "affinity", "ignore_below")


def classifier_inputs(wc):
    files = dataset_files(PL_TARGET, *PSEUDO["classifier"]["sources"])
    return files + ([PL_WITNESS] if PSEUDO["tags"] == "predicted" else [])


def witness_arg(wc):
    if PSEUDO["tags"] != "predicted":
        return ""
    return "--witness " + shlex.quote(as_json({"weights": PL_WITNESS, "model": model_entry(PRIMARY),
                                               "size": SIZE, "device": DEVICE}))


rule pseudolabel_classifier:
    input:
        classifier_inputs,
        code=code("pseudolabel.stage"),
    output:
        weights=f"{PL_ROOT}/classifier/model.pth",
        tags=f"{PL_ROOT}/classifier/tags.json",
    params:
        sources=as_json([raw_source(d) for d in PSEUDO["classifier"]["sources"]]),
        model=lambda wc: as_json((PSEUDO.get("model") or config["train"]["models"][PRIMARY]) | {"num_classes": NUM_CLASSES}),
        pl=lambda wc: as_json({k: v for k, v in PSEUDO.items() if k not in PL_LABEL_KEYS + ("mixes",)}),
        witness=witness_arg,
        size=SIZE,
        seed=SEED,
        device=DEVICE,
    benchmark:
        "benchmarks/pseudolabel_classifier.tsv",
    log:
        f"logs/pseudolabel/{PL_TARGET}/classifier.log",
    threads: 1
    resources:
        **cluster("pseudolabel"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap pseudolabel classifier --dataset " + raw(PL_TARGET) + " --split "
        + split_file(PL_TARGET) + " --sources {params.sources:q} --model {params.model:q} --params {params.pl:q} "
        "{params.witness} --size {params.size} --seed {params.seed} --device {params.device} "
        "--out " + f"{PL_ROOT}/classifier" + " > {log} 2>&1"


rule pseudolabel:
    input:
        rules.pseudolabel_classifier.output,
        dataset=raw(PL_TARGET),
        split=split_file(PL_TARGET),
        code=code("pseudolabel.stage"),
    output:
        dataset=directory(f"data/pseudolabel/{PL_TARGET}"),
        steps=f"{PL_ROOT}/steps.json",
        examples=f"{PL_ROOT}/examples.png",
    params:
        model=lambda wc: as_json((PSEUDO.get("model") or config["train"]["models"][PRIMARY]) | {"num_classes": NUM_CLASSES}),
        pl=lambda wc: as_json({k: PSEUDO[k] for k in PL_LABEL_KEYS} | {"classifier": {"head": PSEUDO["classifier"]["head"]}}),
        size=SIZE,
        seed=SEED,
        device=DEVICE,
    benchmark:
        "benchmarks/pseudolabel.tsv",
    log:
        f"logs/pseudolabel/{PL_TARGET}/label.log",
    threads: 1
    resources:
        **cluster("pseudolabel"),
    shell:
        "OMP_NUM_THREADS={threads} REALITYGAP_RULE={rule} realitygap pseudolabel label --dataset {input.dataset} --split {input.split} "
        "--classifier " + f"{PL_ROOT}/classifier" + " --model {params.model:q} --params {params.pl:q} "
        "--size {params.size} --seed {params.seed} --device {params.device} --results " + PL_ROOT + " "
        "--out {output.dataset} > {log} 2>&1"
