"""`realitygap diagnose`: evidence for the causes of the reality gap, from the explanations of the
model trained on the source domain (sim) and the one trained on the target domain (real), on the same
test images of every explained domain.

Evidence per cue region r (all in percentage points, source model minus target model):
- attribution: the share of the target class's attribution that falls on r, mean over methods;
- ablation: the relative drop of the target class's confidence when r is inpainted.
A region whose evidence is large is one the source model relies on more than the target model does:
a suspected cause. The target class's own region is a candidate too: a source model that leans on
the target's own look more than the target model does is hurt when that look differs between domains
(the seam's contrast, stitches and ridge). Its score is the sum of the two; causes are ranked by it, and each region is
named by the render factors acting there that differ between the two domains. Beside them: the rank
correlation of the two models' maps per method, linear CKA between their layers, and with the
`counterfactual` method what each model needs changed to answer otherwise (flip rates, directions,
size and place of the change).

Attribution and ablation show where a model looks, not whether what it looks at differs between the domains.
When both domains have a look (render factors) and a renderer can draw it, the interventional evidence
decides the ranking: each differing factor transplanted from one domain's look into the other's on fresh
scenes, and the frozen source model's score change (`realitygap.diagnose.transplant`). `diagnose/rank_by` picks
which ranking becomes `ranked_causes` (what the xai_guided policy randomises); the other is kept beside it and
`ranking_rule` states the rule used.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from realitygap.classes import common_classes
from realitygap.data import load_samples, samples_of
from realitygap.diagnose.cka import layer_features, linear_cka
from realitygap.cues import cue_regions, region_factors
from realitygap.diagnose.regions import ablate, class_confidence
from realitygap.diagnose.image_transplant import statistic_effects
from realitygap.diagnose.finetune import finetune_effects
from realitygap.diagnose.transplant import differing, transplant_effects
from realitygap.io import read_image, read_json, write_json
from realitygap.seeding import derive_seed
from realitygap.models import load_model
from realitygap.inference import load_batch
from realitygap.explain.scores import mass_share, rank_correlation


def _mean(values) -> float | None:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return round(float(np.mean(values)), 3) if values else None


def load_maps(folder: Path, class_name: str) -> tuple[dict, np.ndarray]:
    """Meta and the maps (N, H, W) of one class from an explain output."""
    meta = read_json(folder / "meta.json")
    if class_name not in meta["classes"]:
        raise ValueError(f"{folder}: class {class_name!r} was not explained (classes: {meta['classes']})")
    with np.load(folder / "maps.npz") as data:
        return meta, data["maps"][:, meta["classes"].index(class_name)].astype(np.float32)


def attribution_evidence(explanations: dict[str, tuple[str, str]], class_name: str, regions: dict,
                         domains: np.ndarray) -> dict:
    """Per method and domain: region shares of both models' maps and their rank correlation."""
    per_method, ids = {}, None
    for method, (source_dir, target_dir) in explanations.items():
        meta_s, maps_s = load_maps(Path(source_dir), class_name)
        meta_t, maps_t = load_maps(Path(target_dir), class_name)
        if meta_s["ids"] != meta_t["ids"] or (ids is not None and meta_s["ids"] != ids):
            raise ValueError(f"diagnose: {method}: the two models were explained on different images")
        ids = meta_s["ids"]
        per_method[method] = {}
        for domain in sorted(set(domains)):
            pick = domains == domain
            per_method[method][domain] = {
                "spearman_source_vs_target": rank_correlation(maps_s[pick][:, None], maps_t[pick][:, None]),
                "share": {name: {"source": _mean([100 * mass_share(maps_s[pick], r[pick]).mean()]),
                                 "target": _mean([100 * mass_share(maps_t[pick], r[pick]).mean()]),
                                 "area": _mean([100 * r[pick].mean()])}
                          for name, r in regions.items()}}
    return per_method


def counterfactual_evidence(folders: tuple[str, str], class_name: str) -> dict:
    """Per model (source, target) and domain, for the class: how many of its counterfactuals flipped,
    in which direction, how large the change was (mean |M|, grey levels) and where |M| lay (%)."""
    out = {}
    for role, folder in zip(("source", "target"), folders):
        meta = read_json(Path(folder) / "meta.json")
        rows = [r for r in meta["counterfactual"]["rows"] if meta["classes"][r["target"]] == class_name]
        out[role] = {}
        for domain in sorted({meta["domains"][r["image"]] for r in rows}):
            mine = [r for r in rows if meta["domains"][r["image"]] == domain]
            out[role][domain] = {
                "counterfactuals": len(mine), "flip_rate": _mean([100 * r["flipped"] for r in mine]),
                "directions": {d: sum(r["direction"] == d for r in mine) for d in ("add", "remove")},
                "mean_abs_change": _mean([r["mean_abs_change"] for r in mine]),
                "share": {name: _mean([r["share"][name] for r in mine]) for name in mine[0]["share"]}}
    return out


def ablation_evidence(source, target, images: np.ndarray, truth: np.ndarray, regions: dict, class_index: int,
                      domains: np.ndarray, radius: int) -> dict:
    """Per region and domain: relative confidence drop (%) of each model when the region is inpainted."""
    out = {}
    base = {"source": class_confidence(source, images, truth, class_index),
            "target": class_confidence(target, images, truth, class_index)}
    for name, region in regions.items():
        ablated = ablate(images, region, radius)
        out[name] = {}
        for role, net in (("source", source), ("target", target)):
            after = class_confidence(net, ablated, truth, class_index)
            drop = 100 * (base[role] - after) / np.maximum(base[role], 1e-6)
            out[name][role] = {d: _mean(drop[(domains == d) & region.any(axis=(1, 2))]) for d in sorted(set(domains))}
    return out


def cka_by_layer(source, target, images: np.ndarray, layers: list[str], domains: np.ndarray) -> dict:
    """Linear CKA between the same layer of the two models, per domain of the inputs and on all of
    them (`all`). With two inputs CKA is 1 whatever the layers: use more."""
    out = {}
    for domain in [*sorted(set(domains)), "all"]:
        x = torch.from_numpy(images if domain == "all" else images[domains == domain])
        fs, ft = layer_features(source, x, layers), layer_features(target, x, layers)
        out[domain] = {layer: round(linear_cka(fs[layer], ft[layer]), 4) for layer in layers}
    return out


def rank_causes(attribution: dict, ablation: dict, regions: list[str], factors: dict[str, list[str]]) -> list[dict]:
    """Regions ranked by evidence (source minus target, attribution share + ablation drop)."""
    ranked = []
    for name in regions:
        attr = _mean(d["share"][name]["source"] - d["share"][name]["target"]
                     for per_domain in attribution.values() for d in per_domain.values())
        abl = _mean(ablation[name]["source"][d] - ablation[name]["target"][d] for d in ablation[name]["source"]
                    if ablation[name]["source"][d] is not None and ablation[name]["target"][d] is not None)
        ranked.append({"region": name, "factors": factors.get(name, []), "attribution_points": attr,
                       "ablation_points": abl, "score": round((attr or 0.0) + (abl or 0.0), 3)})
    return sorted(ranked, key=lambda r: -r["score"])


def differing_factors(source_manifest: dict, target_manifest: dict) -> dict[str, list[str]]:
    """Per cue region, the render factors acting there whose values differ between the two domains."""
    fs, ft = source_manifest.get("factors"), target_manifest.get("factors")
    if fs is None or ft is None:
        return {}
    return {region: [f for f in names if fs.get(f, 0) != ft.get(f, 0)] for region, names in region_factors().items()}


def interventional_evidence(nets: tuple, renderer: dict | None, manifests: dict[str, dict], domains_of: dict[str, str],
                            test_sets: dict[str, list] | None, classes, cfg: dict, seed: int) -> dict | None:
    """Render-factor transplants between the two domains' looks (their manifests' factors) on the frozen source
    model (and the target model's reliance, `nets` = (source, target)) when a renderer is given and both domains
    have a look; else image-statistics transplants onto the source's test images (`test_sets`: role -> [dataset,
    split]); None without either."""
    net = nets[0]
    looks = {role: manifests[role].get("factors") for role in ("source", "target")}
    if not cfg.get("transplant"):
        return None
    if renderer is not None and all(looks.values()) and differing(looks):
        return transplant_effects(net, renderer["renderer"], renderer["render"], looks, domains_of, differing(looks),
                                  classes, cfg["transplant"], derive_seed(seed, "transplant"),
                                  target_net=nets[1]) | {"kind": "render factors"}
    count = int(cfg["transplant"]["count"])
    source = load_samples(*test_sets["source"], "test")[:count] if test_sets else []
    target = load_samples(*test_sets["target"], "test")[:count] if test_sets else []
    if not source or not target:
        return None
    images, truth = load_batch(source, len(classes))
    size = images.shape[2], images.shape[1]                  # the target's statistics measured at the source's size
    target_images = np.stack([cv2.resize(read_image(s.image), size) for s in target])
    return statistic_effects(net, images, truth, target_images, classes, cfg["transplant"]["bootstrap"],
                             derive_seed(seed, "image transplant")) | {"kind": "image statistics"}


RANKING_RULES = {
    "attribution": "cue regions by attribution + ablation points (source minus target model)",
    "transplant": "transplanted factors with a positive score, highest first (score = the source model's loss to the "
                  "factor + the target model's reliance on it, mIoU points); then the cue regions the source model "
                  "relies on more than the target model (attribution + ablation points) whose factors were not "
                  "transplanted",
    "finetune": "factors with a positive fine-tune gain, highest first (gain = the target-look mIoU points a short "
                "fine-tuning of the source model gains when its training scenes show the factor as in the target "
                "look); then the cue regions the source model relies on more than the target model (attribution + "
                "ablation points) whose factors were not fine-tuned"}
SCORE_KEYS = {"transplant": "score_points", "finetune": "gain_points"}


def ranked_causes(ranked_regions: list[dict], factors: dict, evidence: dict | None, key: str = "score_points") -> list[str]:
    """Causes: the factors of `evidence` whose `key` is positive, highest first, then the regions' factors (in the
    regions' order) that `evidence` did not try; without evidence the regions' order alone."""
    rows = sorted((evidence or {}).get("factors", []), key=lambda r: -r[key])
    tried = {f for r in rows for f in r["factors"]}
    causes = [r["factors"][0] for r in rows if r[key] > 0]
    for region in ranked_regions:
        if region["score"] > 0:
            causes += [f for f in (region["factors"] if factors else [region["region"]]) if f not in tried]
    return list(dict.fromkeys(causes))


def ranking(ranked_regions: list[dict], factors: dict, evidence: dict[str, dict], rank_by: str) -> dict:
    """`ranked_causes` (what the xai_guided policy randomises) by `rank_by` (`attribution`, `transplant` or
    `finetune`; attribution when that evidence is missing), each other ranking beside it as `<kind>_ranking`, and
    the rule used."""
    rankings = {"attribution": ranked_causes(ranked_regions, factors, None)}
    rankings |= {kind: ranked_causes(ranked_regions, factors, evidence[kind], SCORE_KEYS[kind])
                 for kind in SCORE_KEYS if evidence.get(kind)}
    used = rank_by if rank_by in rankings else "attribution"
    return {"ranked_causes": rankings[used], "ranking_rule": RANKING_RULES[used],
            **{f"{kind}_ranking": causes for kind, causes in rankings.items() if kind != used}}


def finetune_evidence(weights: str, model: dict, size: int, renderer: dict | None, manifests: dict[str, dict],
                      domains_of: dict[str, str], test_sets: dict[str, list] | None, classes, cfg: dict,
                      train_cfg: dict | None, seed: int, device: str) -> dict | None:
    """The fine-tune gains of the factors that differ between the two domains' looks, scored on the target's
    validation images (`test_sets["target"]`: [dataset, split]), when `cfg` asks for them (`finetune`), a renderer
    draws the looks and the training loop's params are given; else None."""
    looks = {role: manifests[role].get("factors") for role in ("source", "target")}
    if not (cfg.get("finetune") and renderer is not None and train_cfg and all(looks.values()) and differing(looks)):
        return None
    scoring = load_samples(*test_sets["target"], "val") if test_sets and test_sets["target"][1] else None
    return finetune_effects(weights, model, train_cfg, size, renderer["renderer"], renderer["render"], looks,
                            domains_of, differing(looks), classes, cfg["finetune"], seed, device, scoring)


def run_diagnose(source_weights: str, target_weights: str, model: dict, size: int,
                 explanations: dict[str, tuple[str, str]], datasets: dict[str, str], domains_of: dict[str, str],
                 cfg: dict, out: str | os.PathLike, device: str = "auto", renderer: dict | None = None,
                 test_sets: dict[str, list] | None = None, seed: int = 0, train_cfg: dict | None = None) -> dict:
    """Write `diagnosis.json`. `explanations`: method -> (source model's, target model's) explain
    folders; `datasets`: domain -> dataset folder; `domains_of`: {"source": domain, "target": domain};
    `renderer`: {renderer, render} that re-renders the domains' looks for the interventional evidence, else
    `test_sets` ({source, target}: [dataset, split]) whose test images carry the image-statistics transplants;
    `train_cfg`: the training loop's params, which the fine-tune evidence fine-tunes with."""
    class_name = cfg["target_class"]
    classes = common_classes(list(datasets.values()))
    class_index = classes.index(class_name, "diagnose/target_class")
    first = next(iter(explanations.values()))[0]
    meta = read_json(Path(first) / "meta.json")
    samples = samples_of(meta["ids"], meta["domains"], datasets)
    images, truth = load_batch(samples, len(classes), common_size=True)   # as explain loaded them
    domains = np.array(meta["domains"])
    regions = cue_regions(samples, truth, classes)
    source = load_model(source_weights, model, size, device)
    target = load_model(target_weights, model, size, device)
    attribution = attribution_evidence(explanations, class_name, regions, domains)
    ablation = ablation_evidence(source, target, images, truth, regions, class_index, domains, cfg["inpaint_radius"])
    manifests = {role: read_json(Path(datasets[d]) / "manifest.json") for role, d in domains_of.items()}
    factors = differing_factors(manifests["source"], manifests["target"])
    ranked = rank_causes(attribution, ablation, list(regions), factors)
    transplant = interventional_evidence((source, target), renderer, manifests, domains_of, test_sets, classes, cfg,
                                         seed)
    finetune = finetune_evidence(source_weights, model, size, renderer, manifests, domains_of, test_sets, classes, cfg,
                                 train_cfg, seed, device)
    evidence = {"transplant": transplant, "finetune": finetune}
    result = {"source": domains_of["source"], "target": domains_of["target"], "class": class_name,
              "images": len(samples), **ranking(ranked, factors, evidence, cfg.get("rank_by", "attribution")),
              "regions": ranked, **{kind: e for kind, e in evidence.items() if e},
              "attribution": attribution, "ablation": ablation,
              "cka": cka_by_layer(source, target, images, cfg["cka_layers"], domains)}
    if "counterfactual" in explanations:
        result["counterfactual"] = counterfactual_evidence(explanations["counterfactual"], class_name)
    write_json(out, result)
    return result
