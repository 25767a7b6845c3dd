rule predict:
    input:
        weights="results/models/{mix}/{model}/model.pth",
        dataset="data/raw/{domain}",
        split="data/splits/{domain}.json",
    output:
        "results/predictions/{mix}/{model}/{domain}.npz",
    params:
        model=slice_of("train/models/{model}"),
        size=SIZE,
        device=DEVICE,
    log:
        "logs/predict/{mix}/{model}/{domain}.log",
    shell:
        "OMP_NUM_THREADS={threads} realitygap predict --weights {input.weights} --model {params.model:q} "
        "--size {params.size} --device {params.device} --dataset {input.dataset} --split {input.split} "
        "--out {output} 2> {log}"


rule score_segmentation:
    input:
        "results/predictions/{mix}/{model}/{domain}.npz",
    output:
        "results/scores/segmentation/{mix}/{model}/{domain}.json",
    log:
        "logs/score/segmentation/{mix}/{model}/{domain}.log",
    shell:
        "realitygap score segmentation {input} --out {output} 2> {log}"


rule score_matrix:
    input:
        expand("results/scores/segmentation/{mix}/{model}/{domain}.json",
               mix=MIXES, model=MODELS, domain=TEST_DOMAINS),
    output:
        json="results/scores/matrix.json",
        csv="results/scores/matrix.csv",
    log:
        "logs/score/matrix.log",
    shell:
        "realitygap score matrix {input} --out {output.json} --csv {output.csv} 2> {log}"
