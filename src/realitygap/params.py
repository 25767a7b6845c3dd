"""Load params.yaml, merge the chosen scale profile and validate against the schema."""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from realitygap.io import InputError
from realitygap.render.domain import DomainFactors

SCHEMA = Path("workflow/schemas/params.schema.yaml")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)       # libyaml: the 766-line schema 10x faster


def load_yaml(text: str):
    """A YAML document, parsed by libyaml where PyYAML has it (safe loading either way)."""
    return yaml.load(text, Loader=_LOADER)


@functools.lru_cache(maxsize=4)
def load_schema(path: str) -> dict:
    """The params schema at `path`, parsed once per process (it is read, never changed)."""
    return load_yaml(Path(path).read_text())


def deep_merge(base: dict, override: dict) -> dict:
    """Return `base` with `override` merged in recursively (mappings merge, other values replace)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate(config: dict, schema_path: str | os.PathLike = SCHEMA) -> None:
    """Raise InputError naming the offending parameter if `config` breaks the schema."""
    validator = jsonschema.Draft202012Validator(load_schema(str(schema_path)))
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors]
        raise InputError("params.yaml does not match workflow/schemas/params.schema.yaml:\n" + "\n".join(lines))


def resolve(config: dict, schema_path: str | os.PathLike = SCHEMA) -> dict:
    """Validate `config`, merge `profiles[config['profile']]` over it and validate the result."""
    validate(config, schema_path)
    name = config["profile"]
    profiles = config.get("profiles", {})
    if name not in profiles:
        raise InputError(f"params.yaml: profile {name!r} is not defined under `profiles` "
                         f"(defined: {sorted(profiles)})")
    merged = deep_merge({k: v for k, v in config.items() if k != "profiles"}, profiles[name])
    validate(merged, schema_path)
    check_references(merged, load_schema(str(schema_path)))
    return merged


def check_references(cfg: dict, schema: dict) -> None:
    """Cross-field checks the schema (`schema`, for the variants of the ablation grid) cannot express; each error
    names the parameter."""
    rendered = set(cfg["render"]["domains"])
    ingested = set(cfg.get("ingest", {}))
    domains = rendered | ingested
    problems = [f"ingest/{d}: also defined under render/domains" for d in sorted(rendered & ingested)]
    problems += class_problems(cfg) + loss_problems(cfg)
    for domain in set(cfg["render"]["count"]) ^ rendered:
        problems.append(f"render/count/{domain}: every domain in render/domains needs a count, and only those")
    for domain, spec in cfg.get("ingest", {}).items():
        if spec["format"] in ("masks", "coco") and spec["format"] not in spec:
            problems.append(f"ingest/{domain}: format {spec['format']} needs `{spec['format']}`")
    for mix, sources in cfg["train"]["mixes"].items():
        problems += [f"train/mixes/{mix}/{d}: unknown domain" for d in sources if d not in domains]
    for key in ("predict/test_domains", "explain/domains"):
        section, name = key.split("/")
        problems += [f"{key}: unknown domain {d!r}" for d in cfg[section][name] if d not in domains]
    resize = cfg["train"].get("resize")
    if resize and (resize["crop"][0] > resize["scale"][1] * resize["ratio_range"][0]
                   or resize["crop"][1] > resize["scale"][0] * resize["ratio_range"][0]):
        problems.append(f"train/resize/crop: {resize['crop']} (h, w) is larger than the smallest resized image "
                        f"{resize['scale']} x {resize['ratio_range'][0]} (w, h)")
    for name, entry in cfg["train"]["models"].items():
        if entry.get("frozen_mix") and entry["frozen_mix"] not in cfg["train"]["mixes"]:
            problems.append(f"train/models/{name}/frozen_mix: {entry['frozen_mix']!r} is not in train/mixes")
        if entry.get("frozen_mix") and not entry.get("checkpoint"):
            problems.append(f"train/models/{name}/frozen_mix: a frozen model needs its checkpoint")
    if cfg["train"]["primary_model"] not in cfg["train"]["models"]:
        problems.append(f"train/primary_model: {cfg['train']['primary_model']!r} is not in train/models")
    problems += [f"explain/models: {m!r} is not in train/models" for m in cfg["explain"]["models"]
                 if m not in cfg["train"]["models"]]
    if cfg["train"]["primary_model"] not in cfg["explain"]["models"]:
        problems.append("explain/models: must include train/primary_model (the report shows its explanations)")
    x0, y0, x1, y1 = cfg["explain"].get("box", [0, 0, cfg["render"]["size"], cfg["render"]["size"]])
    if not (x0 < x1 <= cfg["render"]["size"] and y0 < y1 <= cfg["render"]["size"]):
        problems.append(f"explain/box: {[x0, y0, x1, y1]} is not a box inside the {cfg['render']['size']} px image")
    for key in ("source_mix", "target_mix"):
        if cfg["diagnose"][key] not in cfg["train"]["mixes"]:
            problems.append(f"diagnose/{key}: {cfg['diagnose'][key]!r} is not in train/mixes")
    if cfg["augment"]["source_mix"] not in cfg["train"]["mixes"]:
        problems.append(f"augment/source_mix: {cfg['augment']['source_mix']!r} is not in train/mixes")
    problems += augment_problems(cfg["augment"], domains, cfg["explain"]["methods"],
                                 cfg["simsearch"]["renderer"]["type"] == "builtin")
    problems += simsearch_problems(cfg["simsearch"], rendered, domains)
    if "experiments" in cfg:
        problems += experiments_problems(cfg["experiments"], cfg, rendered, schema)
    if "instance" in cfg:
        problems += instance_problems(cfg["instance"], cfg)
    if "pseudolabel" in cfg:
        problems += pseudolabel_problems(cfg["pseudolabel"], cfg, domains)
    if "uda" in cfg:
        problems += uda_problems(cfg["uda"], cfg, domains)
    for d in ("sim", "real"):
        if d not in cfg["predict"]["test_domains"]:
            problems.append(f"predict/test_domains: must include {d!r} to measure the gap")
    problems += split_problems(cfg, domains)
    if problems:
        raise InputError("params.yaml:\n" + "\n".join(f"  {p}" for p in problems))


CLASS_PARAMS = ("classes/focus", "explain/target_classes/*", "score/xai_classes/*", "diagnose/target_class",
                 "frontier/class", "augment/policies/*/target_class", "ingest/*/class_map/*", "uda/keep_out/*")
"""The params whose values name classes (of `classes/names`); `*` is every key or item."""


def values_at(node, keys: list[str], path: str = ""):
    """(path, value) of every value at the slash path `keys` under `node`, `*` matching every key or item."""
    if not keys:
        yield path.lstrip("/"), node
        return
    key, rest = keys[0], keys[1:]
    if key != "*":
        if isinstance(node, dict) and key in node:
            yield from values_at(node[key], rest, f"{path}/{key}")
        return
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, child in items:
        yield from values_at(child, rest, f"{path}/{k}")


def class_problems(cfg: dict) -> list[str]:
    """Class names in params outside `classes/names`, palette and ignore value that do not fit the names, and a
    builtin renderer asked to label other classes than its own."""
    from realitygap.classes import ClassSet
    from realitygap.render.raster import RENDER_CLASSES

    names = cfg["classes"]["names"]
    problems = [f"{path}: unknown class {value!r} (classes/names: {names})"
                for pattern in CLASS_PARAMS for path, value in values_at(cfg, pattern.split("/")) if value not in names]
    try:
        ClassSet.from_json(cfg["classes"])
    except InputError as err:
        problems.append(str(err))
    if cfg["render"]["domains"] and tuple(names) != RENDER_CLASSES.names:
        problems.append(f"classes/names: the builtin renderer (render/domains) labels {list(RENDER_CLASSES.names)}, "
                        f"not {names}; ingest your domains instead")
    return problems


LOSS_PARAMS = ("train/loss", "train/models/*/loss", "experiments/base/loss", "experiments/changes/*/loss",
               "experiments/grid/loss/*", "uda/loss")


def loss_problems(cfg: dict) -> list[str]:
    """Class weights of a segmentation loss that do not give one weight per class of `classes/names`."""
    from realitygap.losses import PRESETS

    count = len(cfg["classes"]["names"])
    problems = []
    for pattern in LOSS_PARAMS:
        for path, loss in values_at(cfg, pattern.split("/")):
            terms = PRESETS.get(loss, []) if isinstance(loss, str) else loss
            for term in terms:
                weights = term.get("class_weight")
                if isinstance(weights, list) and len(weights) != count:
                    named = f"{loss}'s class weights {weights}" if isinstance(loss, str) else f"class_weight {weights}"
                    problems.append(f"{path}: {named} are for {len(weights)} classes, classes/names has {count} "
                                    "(use class_weight: frequency, or one weight per class)")
    return problems


def split_problems(cfg: dict, domains: set[str]) -> list[str]:
    """Fractions that do not sum to 1, per-domain fractions of unknown domains, and a domain with no training
    (or no test) split that a mix trains on (or a test domain tests on)."""
    split = cfg["split"]
    sets = {"split/fractions": split["fractions"], **{f"split/domains/{d}": f for d, f in split.get("domains", {}).items()}}
    problems = [f"{path}: train + val + test must sum to 1" for path, f in sets.items() if abs(sum(f.values()) - 1) > 1e-6]
    problems += [f"split/domains/{d}: unknown domain" for d in split.get("domains", {}) if d not in domains]
    fractions = lambda d: split.get("domains", {}).get(d, split["fractions"])  # noqa: E731
    for mix, sources in cfg["train"]["mixes"].items():
        problems += [f"train/mixes/{mix}/{d}: {d} has no training split (split/domains/{d}/train: 0)"
                     for d in sources if d in domains and fractions(d)["train"] == 0]
    problems += [f"predict/test_domains: {d} has no test split (split/domains/{d}/test: 0)"
                 for d in cfg["predict"]["test_domains"] if fractions(d)["test"] == 0]
    return problems


def augment_problems(aug: dict, domains: set[str], methods: list[str], builtin: bool = True) -> list[str]:
    """Composed policies name defined, non-composed policies; the reference domain exists."""
    problems = []
    for name, cfg in aug["policies"].items():
        for part in cfg.get("compose", []):
            if part not in aug["policies"] or "compose" in aug["policies"][part] or part == name:
                problems.append(f"augment/policies/{name}/compose: {part!r} is not another, non-composed policy")
    ref = aug.get("reference_domain")
    if ref is not None and ref not in domains:
        problems.append(f"augment/reference_domain: unknown domain {ref!r}")
    problems += [f"augment/explain_methods: {m!r} is not in explain/methods" for m in aug.get("explain_methods", [])
                 if m not in methods]
    if builtin:      # the builtin renderer re-renders: its factors only (a plugin's parameters are its own)
        known = set(DomainFactors.__dataclass_fields__)
        problems += [f"augment/policies/{name}/factors/{f}: not a render factor of the builtin renderer"
                     for name, cfg in aug["policies"].items() if cfg.get("type") == "randomise"
                     for f in cfg.get("factors", {}) if f not in known]
    return problems


def experiments_problems(exp: dict, cfg: dict, rendered: set[str], schema: dict) -> list[str]:
    """The grid's variants build, its mixes exist, the probe's domain is rendered."""
    from realitygap.variants import check_variants

    problems = [f"experiments/{key}: {exp[key]!r} is not in train/mixes" for key in ("source_mix", "target_mix")
                if exp[key] not in cfg["train"]["mixes"]]
    probe = exp.get("probe")
    if probe and probe["domain"] not in rendered:
        problems.append(f"experiments/probe/domain: {probe['domain']!r} is not in render/domains")
    return problems + check_variants(exp, cfg["render"]["size"], schema, len(cfg["classes"]["names"]))


def instance_problems(inst: dict, cfg: dict) -> list[str]:
    """The instance track's mixes exist, its test domains have COCO annotations, its categories cover the
    rendered ones, its augmentation's source mix is trained and its reference domain exists."""
    problems = [f"instance/{key}: {mix!r} is not in train/mixes" for key, mixes in
                (("mixes", inst["mixes"]), ("longtail/mixes", inst["longtail"]["mixes"]))
                for mix in mixes if mix not in cfg["train"]["mixes"]]
    problems += [f"instance/explain/mixes: {mix!r} is not in instance/mixes" for mix in inst["explain"]["mixes"]
                 if mix not in inst["mixes"]]
    problems += frozen_detector_problems(inst)
    if inst["explain"]["domain"] not in inst["test_domains"]:
        problems.append(f"instance/explain/domain: {inst['explain']['domain']!r} is not in instance/test_domains")
    for domain in inst["test_domains"] if inst["mixes"] or inst["longtail"]["mixes"] else []:   # the track runs
        ingested = cfg.get("ingest", {}).get(domain)
        if domain not in cfg["render"]["domains"] and (ingested is None or ingested["format"] != "coco"):
            problems.append(f"instance/test_domains: {domain!r} is neither rendered nor ingested from COCO")
    missing = sorted(set(rendered_categories(cfg)) - set(instance_categories(cfg)))
    if missing:
        problems.append(f"instance/categories: misses the rendered categories {missing}")
    augment = inst["augment"]
    if augment["policies"] and inst["mixes"] and augment["source_mix"] not in inst["mixes"]:
        problems.append(f"instance/augment/source_mix: {augment['source_mix']!r} is not in instance/mixes "
                        "(its Mask R-CNN is the frozen model of the counterfactuals)")
    domains = set(cfg["render"]["domains"]) | set(cfg.get("ingest", {}))
    if augment["reference_domain"] not in domains:
        problems.append(f"instance/augment/reference_domain: unknown domain {augment['reference_domain']!r}")
    return problems


def frozen_detector_problems(inst: dict) -> list[str]:
    """A user's frozen detector has its checkpoint, is the model of an instance mix, and has no other loss to study."""
    frozen = inst["model"].get("frozen_mix")
    if not frozen:
        return []
    problems = [] if inst["model"].get("checkpoint") else ["instance/model/frozen_mix: a frozen detector needs its checkpoint"]
    if frozen not in inst["mixes"]:
        problems.append(f"instance/model/frozen_mix: {frozen!r} is not in instance/mixes")
    if frozen in inst["longtail"]["mixes"]:
        problems.append(f"instance/longtail/mixes: {frozen!r} is instance/model/frozen_mix (a frozen detector keeps "
                        "its own loss; the long-tail study trains every loss)")
    return problems


def uda_problems(uda: dict, cfg: dict, domains: set[str]) -> list[str]:
    """The target is a known domain; each UDA mix's source and start are train mixes, a policy's `aug_<policy>`
    or a pseudo-label mix (its labels as a warm start)."""
    problems = [] if uda["target"] in domains else [f"uda/target: unknown domain {uda['target']!r}"]
    sources = (set(cfg["train"]["mixes"]) | {f"aug_{p}" for p in cfg["augment"]["policies"]}
               | set((cfg.get("pseudolabel") or {}).get("mixes", {})))
    for name, mix in uda["mixes"].items():
        for key in ("source", "start"):
            if key in mix and mix[key] not in sources:
                problems.append(f"uda/mixes/{name}/{key}: {mix[key]!r} is neither in train/mixes, an aug_<policy> mix "
                                f"nor in pseudolabel/mixes (known: {sorted(sources)})")
    return problems


def pseudolabel_problems(pl: dict, cfg: dict, domains: set[str]) -> list[str]:
    """The pseudo-labelled domain and the classifier's sources exist, the mixes name known domains or the
    pseudo-labelled one and do not clash with train/mixes, the refined CAM method is computed."""
    pseudo = f"pseudo_{pl['domain']}"
    problems = [] if pl["domain"] in domains else [f"pseudolabel/domain: unknown domain {pl['domain']!r}"]
    problems += [f"pseudolabel/classifier/sources: unknown domain {d!r}" for d in pl["classifier"]["sources"]
                 if d not in domains]
    primary = cfg["train"]["models"][cfg["train"]["primary_model"]]
    if "model" not in pl and (primary.get("arch") not in ("unet", "encdec")):
        problems.append("pseudolabel/model: the tag classifier needs a unet or encdec model; train/primary_model is "
                        "not one, so name the classifier's own model here")
    if pl["cams"]["refine"] not in pl["cams"]["methods"]:
        problems.append(f"pseudolabel/cams/refine: {pl['cams']['refine']!r} is not in pseudolabel/cams/methods")
    if pl["tags"] == "predicted" and pl["witness_mix"] not in cfg["train"]["mixes"]:
        problems.append(f"pseudolabel/witness_mix: {pl['witness_mix']!r} is not in train/mixes")
    if pl["tags"] == "dataset" and pl["domain"] not in cfg.get("ingest", {}):
        problems.append("pseudolabel/tags: `dataset` needs an ingested domain (ingest/<domain>/tags)")
    for mix, sources in pl["mixes"].items():
        if mix in cfg["train"]["mixes"]:
            problems.append(f"pseudolabel/mixes/{mix}: also defined under train/mixes")
        problems += [f"pseudolabel/mixes/{mix}/{d}: unknown domain (known: {sorted(domains)} and {pseudo})"
                     for d in sources if d not in domains and d != pseudo]
        if pseudo not in sources:
            problems.append(f"pseudolabel/mixes/{mix}: does not use the pseudo-labelled {pseudo}")
    return problems


def instance_categories(cfg: dict) -> list[str]:
    """The instance track's classes: params instance/categories, else the rendered scene's categories."""
    return cfg["instance"].get("categories") or sorted(rendered_categories(cfg))


def rendered_categories(cfg: dict) -> dict[str, float]:
    """The rendered scenes' item categories and their weights."""
    from realitygap.render.scene import DEFAULT_CATEGORIES

    return cfg["render"]["scene"].get("categories", DEFAULT_CATEGORIES)


def simsearch_problems(search: dict, rendered: set[str], domains: set[str]) -> list[str]:
    """The base domain is rendered (or, for a renderer plugin, exists), the target exists, and every range is
    [low, high]."""
    problems = []
    if search["base"] not in (rendered if search["renderer"]["type"] == "builtin" else domains):
        problems.append(f"simsearch/base: {search['base']!r} is not in render/domains"
                        + (" (a renderer plugin may start from an ingested domain)" if search["base"] in domains else ""))
    if search["target"] not in domains:
        problems.append(f"simsearch/target: unknown domain {search['target']!r}")
    for name, spec in search["space"].items():
        low, high = spec if isinstance(spec, list) else spec.get("range", (0, 0))
        if low > high:
            problems.append(f"simsearch/space/{name}: [{low}, {high}] is not a [low, high] range")
    for i, look in enumerate(search.get("initial", [])):
        problems += [f"simsearch/initial/{i}/{name}: not in simsearch/space" for name in look if name not in search["space"]]
    if search["renderer"]["type"] == "builtin":
        known = set(DomainFactors.__dataclass_fields__)
        problems += [f"simsearch/space/{name}: not a render factor of the builtin renderer (known: {sorted(known)})"
                     for name in search["space"] if name not in known]
    return problems


def load(path: str | os.PathLike = "params.yaml", profile: str | None = None, **overrides: Any) -> dict:
    """Read, optionally switch profile, and resolve a params file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: params file not found")
    config = load_yaml(path.read_text())
    if profile:
        config["profile"] = profile
    config.update(overrides)
    return resolve(config, path.parent / SCHEMA)
