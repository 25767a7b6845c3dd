# Shared helpers: params resolution and validation, wildcard sets, and each rule's params slice.
import json
import os
import shlex
import time

from realitygap import preload
from realitygap.codefiles import source_files
from realitygap.io import write_json
from realitygap.params import resolve

# Validate params.yaml against workflow/schemas/params.schema.yaml, then merge the chosen profile.
_resolved = resolve(config, workflow.source_path("../schemas/params.schema.yaml"))
config.clear()
config.update(_resolved)

RENDERED = list(config["render"]["domains"])
INGESTED = list(config.get("ingest", {}))
DOMAINS = RENDERED + INGESTED
MODELS = list(config["train"]["models"])
NUM_CLASSES = len(config["classes"]["names"])     # what every segmentation model's head outputs
AUGMENT = config["augment"]
IMAGE_QUALITY = config["image_quality"]
POLICIES = list(AUGMENT["policies"])
POLICY_OF_MIX = {f"aug_{p}": p for p in POLICIES}             # the policies' training mixes
AUG_MIXES = list(POLICY_OF_MIX)
BASE_MIXES = list(config["train"]["mixes"])
SEARCH = config["simsearch"]
SEARCHED = "searched"               # domain rendered with the render search's best look, and the mix trained on it
PSEUDO = config["pseudolabel"]
PSEUDO_DOMAIN = f"pseudo_{PSEUDO['domain']}"       # the pseudo-labelled dataset, a domain of PSEUDO_MIXES
PSEUDO_MIXES = list(PSEUDO["mixes"])
INSTANCE_AUGMENT = config["instance"]["augment"]
INSTANCE_POLICY_OF_MIX = {f"inst_{p}": p for p in INSTANCE_AUGMENT["policies"]}   # the instance track's augmented mixes
INSTANCE_AUG_MIXES = list(INSTANCE_POLICY_OF_MIX)
UDA = config.get("uda", {"mixes": {}})
UDA_OF_MIX = {f"uda_{name}": entry for name, entry in UDA["mixes"].items()}    # self-training mixes
UDA_MIXES = list(UDA_OF_MIX)
MIXES = BASE_MIXES + AUG_MIXES + [SEARCHED] + PSEUDO_MIXES + UDA_MIXES + INSTANCE_AUG_MIXES
GAP_MIXES = ["sim", "real"]          # the gap closure's baselines (as in summarize)
REPLICATES = [f"seed{k}" for k in range(1, AUGMENT["seeds"])]   # training seed = seed + k
TEST_DOMAINS = config["predict"]["test_domains"]
METHODS = config["explain"]["methods"]
POLICY_METHODS = AUGMENT.get("explain_methods", METHODS)    # methods run on the policies' models
EXPLAINED = config["explain"]["models"]
DIAGNOSE = config["diagnose"]
PRIMARY = config["train"]["primary_model"]
SIZE = config["render"]["size"]
SEED = config["seed"]
DEVICE = config["device"]

REPORT = expand("results/report/{name}", name=["metrics.json", "summary.md", "report.html",
                                               "gap_matrix.png", "attribution_grid.png", "gap_closure.png",
                                               "policy_attributions.png"])


wildcard_constraints:
    domain="|".join(DOMAINS + [SEARCHED]),
    rendered="|".join(RENDERED) or "(?!)",
    ingested="|".join(INGESTED) or "(?!)",
    mix="|".join(m.replace("+", r"\+") for m in MIXES),
    model="|".join(MODELS),
    method="|".join(METHODS),
    explained="|".join(EXPLAINED),
    policy="|".join(POLICIES),
    replicate="|".join(REPLICATES) or "(?!)",


def record_run_start(path):
    """When this run started (Snakemake's onstart: real runs only): `summarize` reports the run's wall time
    from it as metrics.json `timings_s.total`."""
    write_json(path, {"started": time.time()})


JOB_SERVER = []


def start_job_server():
    """One warm interpreter for this run's local jobs (`realitygap.preload`): each job skips the 5-8 s of
    importing torch, mmseg and mmdet. Cluster jobs (and REALITYGAP_NO_PRELOAD=1) run as plain processes."""
    if workflow.local_exec:
        JOB_SERVER.append(preload.start("logs/preload.log"))


def stop_job_server():
    """Stop the job server at the end of the run (Snakemake's onsuccess / onerror)."""
    while JOB_SERVER:
        preload.stop(JOB_SERVER.pop())


def as_json(value):
    """A params value as compact JSON for the command line (and for Snakemake's params trigger)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def slice_of(dpath):
    """The params slice at `dpath` as JSON; `{wildcards}` in the path are filled per job."""
    return lambda wc: as_json(at(dpath.format(**wc)))


def model_entry(name):
    """The params entry of segmentation model `name` with the task's class count added as `num_classes` (what
    the model's head outputs)."""
    return config["train"]["models"][name] | {"num_classes": NUM_CLASSES}


def model_of(name):
    """`model_entry` of `name` (`{wildcards}` filled per job) as JSON."""
    return lambda wc: as_json(model_entry(name.format(**wc)))


def at(dpath):
    """The params entry at a slash-separated path. A plain walk: Snakemake's lookup() took 2.3 ms a
    call, a quarter of a no-op run on bench/rerun_overhead.py's large DAG (cProfile)."""
    node = config
    for key in dpath.split("/"):
        node = node[key]
    return node


def code(*modules):
    """The package's source files that `realitygap.<module>` runs: a rule's code inputs (mtime trigger).
    Relative to the working directory when the package lives under it, so a moved clone is the same."""
    here = os.getcwd()
    files = source_files(*(f"realitygap.{m}" for m in modules))
    return [os.path.relpath(f) if f.startswith(here + os.sep) else f for f in files]


def cluster(stage):
    """SLURM resources of a stage's jobs from params `cluster` (a local run limits none of them unless
    given --resources)."""
    spec = config["cluster"]["default"] | config["cluster"]["stages"].get(stage, {})
    resources = {"mem_mb": spec["mem_mb"], "runtime": spec["runtime"],
                 "slurm_partition": spec.get("partition", config["cluster"]["partition"])}
    return resources | ({"gpu": spec["gpu"]} if spec.get("gpu") else {})


def raw(domain):
    """A domain's dataset folder (rendered or ingested)."""
    return f"data/raw/{domain}"


def split_file(domain):
    """A domain's split file."""
    return f"data/splits/{domain}.json"


def dataset_files(*domains):
    """The dataset folders and split files of `domains`, in turn."""
    return [path for d in domains for path in (raw(d), split_file(d))]


def train_params():
    """The train section without what names the runs (models, mixes, the primary model): the loop's params."""
    return {k: v for k, v in config["train"].items() if k not in ("models", "mixes", "primary_model")}


def raw_source(domain, fraction=1.0):
    return {"dataset": raw(domain), "split": split_file(domain), "fraction": fraction}


def pseudo_source(fraction=1.0):
    """The pseudo-labelled dataset: every image is a training image (they are the domain's train split)."""
    return {"dataset": f"data/pseudolabel/{PSEUDO['domain']}", "split": None, "fraction": fraction}


def mix_sources(mix):
    """Training sources of a mix: domain fractions, or an augmented dataset for `aug_<policy>` (with the
    source mix's own images for the instance track's `inst_<policy>`)."""
    if mix in INSTANCE_AUG_MIXES:
        return mix_sources(INSTANCE_AUGMENT["source_mix"]) + [
            {"dataset": f"data/augmented/instances/{INSTANCE_POLICY_OF_MIX[mix]}", "split": None, "fraction": 1.0}]
    if mix in AUG_MIXES:
        return [{"dataset": f"data/augmented/{POLICY_OF_MIX[mix]}", "split": None, "fraction": 1.0}]
    if mix == SEARCHED:
        return [raw_source(SEARCHED)]
    if mix in PSEUDO_MIXES:
        return [pseudo_source(f) if d == PSEUDO_DOMAIN else raw_source(d, f) for d, f in PSEUDO["mixes"][mix].items()]
    if mix in UDA_MIXES:
        return mix_sources(UDA_OF_MIX[mix]["source"])
    return [raw_source(d, f) for d, f in config["train"]["mixes"][mix].items()]


def mix_val_sources(mix):
    """Validation sources: an augmented mix validates on the mix it was made from, the searched on itself, a
    pseudo-label mix on its labelled domains (none: its own first images; never the target's labels)."""
    if mix == SEARCHED:
        return [raw_source(SEARCHED)]
    if mix in PSEUDO_MIXES:
        return [raw_source(d) for d in PSEUDO["mixes"][mix] if d != PSEUDO_DOMAIN]
    if mix in UDA_MIXES:
        return mix_val_sources(UDA_OF_MIX[mix]["source"])
    source = (config["augment"]["source_mix"] if mix in AUG_MIXES
              else INSTANCE_AUGMENT["source_mix"] if mix in INSTANCE_AUG_MIXES else mix)
    return [raw_source(d) for d in config["train"]["mixes"][source]]


def uda_target(mix):
    """The unlabeled target images of a self-training mix (none for other mixes)."""
    return [raw_source(UDA["target"])] if mix in UDA_MIXES else []


def uda_start(wc):
    """The trained model a self-training mix's student starts from (its replicate's at a replicate's seed)."""
    start = UDA_OF_MIX.get(getattr(wc, "mix", None), {}).get("start")     # rules beside `train` have no mix
    if not start:
        return []
    root = f"results/replicates/{wc.replicate}/models" if hasattr(wc, "replicate") else "results/models"
    return [f"{root}/{start}/{wc.model}/model.pth"]


def uda_args(wc):
    """`train`'s self-training options of a UDA mix: the target, the uda params, the start model. Of the wildcards
    only (a params function that reads `input` escapes Snakemake's params trigger)."""
    if getattr(wc, "mix", None) not in UDA_MIXES:
        return ""
    uda = {k: v for k, v in UDA.items() if k not in ("target", "mixes")}
    args = f"--target {shlex.quote(as_json(uda_target(wc.mix)))} --uda {shlex.quote(as_json(uda))}"
    return args + "".join(f" --start {path}" for path in uda_start(wc))


def mix_input_files(wc):
    files = []
    for src in mix_sources(wc.mix) + mix_val_sources(wc.mix) + uda_target(wc.mix):
        files.append(src["dataset"])
        if src["split"]:
            files.append(src["split"])
    return sorted(set(files))


def model_files(wc):
    """A user's model's config file and checkpoint: inputs of the jobs that build it (changes rerun them)."""
    entry = config["train"]["models"].get(getattr(wc, "model", None), {})     # rules beside `train` have no model
    return [entry[k] for k in ("config", "checkpoint") if k in entry]


def training_seed(wc):
    """The global seed, plus k for replicate `seed<k>` of the gap-closure study."""
    return SEED + int(getattr(wc, "replicate", "seed0")[len("seed"):])


def trained_models():
    """(mix, model) pairs trained: every model on the base mixes, the primary one on the policies' and on
    the render search's best look."""
    return ([(mix, model) for mix in BASE_MIXES for model in MODELS]
            + [(mix, PRIMARY) for mix in AUG_MIXES + [SEARCHED] + PSEUDO_MIXES + UDA_MIXES])


def methods_of(mix):
    """The XAI methods run on a mix's models (none on the render search's: it is scored, not explained)."""
    return [] if mix == SEARCHED else POLICY_METHODS if mix in AUG_MIXES + PSEUDO_MIXES + UDA_MIXES else METHODS


def explained_runs(model_names):
    """(mix, model, method) of every explanation job for `model_names`."""
    return [(mix, model, method) for mix, model in trained_models() if model in model_names
            for method in methods_of(mix)]


def replicate_scores():
    """Score files of the gap-closure replicates: the baselines and every policy at each extra seed."""
    return expand("results/replicates/{replicate}/scores/{mix}/{model}/real.json", replicate=REPLICATES,
                  mix=GAP_MIXES + AUG_MIXES + [SEARCHED] + PSEUDO_MIXES + UDA_MIXES, model=PRIMARY)


def split_datasets(domains):
    """`{domain: [dataset folder, split file]}` of `domains`, as the stage commands take them."""
    return {d: [raw(d), split_file(d)] for d in domains}


def explain_datasets(wc=None):
    return split_datasets(config["explain"]["domains"])
