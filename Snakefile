# realitygap workflow: render -> split -> train{mix,model} -> predict/explain -> score -> augment ->
# retrain -> summarize, pseudo-labels for the real images (CAM -> CRF -> random walk) -> train, with the instance track (Mask R-CNN: train, predict, score) beside it. Rules live in workflow/rules/; each calls one `realitygap <stage>` command.
configfile: "params.yaml"
report: "workflow/report/workflow.rst"     # `snakemake --report report.html`: our figures, with captions


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/explain.smk"
include: "workflow/rules/frontier.smk"
include: "workflow/rules/augment.smk"
include: "workflow/rules/simsearch.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/instances.smk"
include: "workflow/rules/pseudolabel.smk"
include: "workflow/rules/summarize.smk"


localrules:
    all,


onstart:
    record_run_start("logs/run.json")
    start_job_server()


onsuccess:
    stop_job_server()


onerror:
    stop_job_server()


rule all:
    input:
        REPORT,
