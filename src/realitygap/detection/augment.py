"""`realitygap instances augment`: Learn-Explain-Reinforce's reinforce step for the instance track, and
the 16-factor image-transformation baseline on the same images.

Both policies raise every category to at least `min_count` training images (the reference work raised
every LVIS category to 101): for a category seen in n < min_count images, min_count - n new images, drawn in
a seeded order (cycling when there are fewer):
- `counterfactual`: images without the category; in each, the object of the most frequent category (the
  largest on ties) is the donor. A map generator trained against the frozen source Mask R-CNN (its loss
  toward the category on the donor's box: `terms`), realism judged against the reference (real) images,
  gives x' = x + strength * M with a strength drawn in [`min_strength`, 1]; the donor's annotation takes
  the category: labels follow the target;
- `baseline`: images that show the category, each with `ops` of the 16 factors at `magnitude` (the image
  transformations the reference work compared with); instance masks, boxes and the semantic mask follow
  the geometric factors; labels unchanged.
The dataset written (images, semantic masks, COCO `instances.json`, manifest) holds the new images only;
a mix adds it to the source's training images, so both policies train on the same number of images, with
the same category counts, at the same schedule."""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from realitygap.classes import ClassSet, common_classes
from realitygap.augment.baseline import ImageTransformBaseline
from realitygap.coco import annotation_mask, mask_annotation
from realitygap.counterfactual.training import generator_options
from realitygap.detection.data import instance_samples
from realitygap.io import InputError, atomic_dir, read_image, read_mask, write_json, write_png
from realitygap.progress import progress
from realitygap.render.stage import coco_document
from realitygap.seeding import derive_seed

INSTANCE_POLICIES = ("baseline", "counterfactual")
COUNTERFACTUAL_DEFAULTS = {"terms": ["cls"], "iou": 0.5, "feature_level": 0, "min_strength": 0.5,
                           **generator_options(weights={"adversarial": 0.1, "l1": 0.05, "l2": 0.05})}
"""At the default sparsity (0.5) the maps stayed under half a grey level on the benchmark's detector: 0.05."""


def image_counts(samples: list[dict], categories: list[str]) -> dict[str, int]:
    """The number of samples each category appears in."""
    counts = Counter(c for s in samples for c in {a["category"] for a in s["annotations"]})
    return {c: counts.get(c, 0) for c in categories}


def _chosen_object(annotations: list[dict], target: str, counts: dict[str, int], relabel: bool) -> int:
    """The index of the object a plan row uses: the donor of the most frequent category (relabel), else the
    target's own object; the largest on ties."""
    def rank(a: dict) -> tuple:
        return (counts.get(a["category"], 0) if relabel else a["category"] == target, a["area"])
    return max(range(len(annotations)), key=lambda j: rank(annotations[j]))


def augmentation_plan(samples: list[dict], categories: list[str], min_count: int, seed: int,
                      relabel: bool = True) -> list[dict]:
    """Rows `{sample, annotation, target, copy}` so that every category appears in at least `min_count`
    images (the sources plus the new ones). With `relabel`, the annotation is a donor object, in an image
    without the target, that becomes the target; else it is the target's own (largest) object."""
    counts = image_counts(samples, categories)
    plan = []
    for target in sorted(categories, key=lambda c: (counts[c], c)):
        need = min_count - counts[target]
        if need <= 0:
            continue
        donors = {i: _chosen_object(s["annotations"], target, counts, relabel) for i, s in enumerate(samples)
                  if s["annotations"] and relabel != (target in {a["category"] for a in s["annotations"]})}
        if not donors and relabel:
            raise InputError(f"instances augment: no training image without {target!r} has an object to change")
        if not donors:                  # no image shows it: transformations cannot make one (summary: unreached)
            logging.getLogger(__name__).warning("instances augment: no training image shows %r", target)
            continue
        order = sorted(donors, key=lambda i: derive_seed(seed, "instance_plan", target, Path(samples[i]["path"]).stem))
        plan += [{"sample": order[k % len(order)], "annotation": donors[order[k % len(order)]], "target": target,
                  "copy": k // len(order)} for k in range(need)]
    return plan


def _entry(sample: dict, row: dict, image: np.ndarray, mask: np.ndarray, annotations: list[dict]) -> dict:
    vid = f"{Path(sample['path']).stem}_to_{row['target']}_{row['copy']}"
    return {"id": vid, "scene": Path(sample["path"]).stem, "image": image, "mask": mask, "annotations": annotations}


def baseline_entries(samples: list[dict], plan: list[dict], cfg: dict, seed: int,
                     classes: ClassSet) -> tuple[list[dict], dict]:
    """Each planned image once more, with the 16-factor transformation (masks and boxes follow); labels unchanged."""
    policy = ImageTransformBaseline({k: v for k, v in cfg.items() if k in ImageTransformBaseline.options})
    entries = []
    for row in progress(plan, desc="augment instances baseline"):
        s = samples[row["sample"]]
        image = read_image(s["path"])
        masks = [annotation_mask(a, s["height"], s["width"]).astype(np.uint8) for a in s["annotations"]]
        policy.transform.set_random_seed(derive_seed(seed, "instance_baseline", Path(s["path"]).stem, row["target"],
                                                     row["copy"]))
        out = policy.transform(image=image, mask=read_mask(s["mask"], image.shape[:2], len(classes)), masks=masks)
        annotations = [{"category": a["category"], **mask_annotation(m > 0)}
                       for a, m in zip(s["annotations"], out["masks"]) if (m > 0).any()]
        entries.append(_entry(s, row, out["image"], out["mask"], annotations))
    return entries, {}


def counterfactual_entries(samples: list[dict], plan: list[dict], cfg: dict, categories: list[str], seed: int,
                           source_model: dict, references: list[Path], classes: ClassSet) -> tuple[list[dict], dict]:
    """Each planned image with a counterfactual map toward its target category on the donor object."""
    from realitygap.counterfactual.instances import frozen_detector, instance_task, judge_instances
    from realitygap.counterfactual.training import fit, scaled_copy
    from realitygap.detectors import load_detector
    from realitygap.models import normalise

    cfg = {**COUNTERFACTUAL_DEFAULTS, **cfg}
    net = load_detector(source_model["weights"], source_model["model"], categories, source_model.get("device", "auto"))
    pairs = sorted({(r["sample"], r["annotation"], r["target"]) for r in plan})   # one counterfactual each
    row_of = {pair: k for k, pair in enumerate(pairs)}
    used = sorted({i for i, _, _ in pairs})
    position = {i: k for k, i in enumerate(used)}                                    # sample -> row of `images`
    images = np.stack([read_image(samples[i]["path"]) for i in used])
    x = normalise(net, torch.from_numpy(images))
    masks = torch.from_numpy(np.stack([annotation_mask(samples[i]["annotations"][j], *images.shape[1:3])
                                       for i, j, _ in pairs])).to(x.device)
    donors = [categories.index(samples[i]["annotations"][j]["category"]) for i, j, _ in pairs]
    task = instance_task(torch.tensor([position[i] for i, _, _ in pairs], device=x.device), masks,
                         torch.tensor(donors), torch.tensor([categories.index(t) for *_, t in pairs]))
    refs = normalise(net, torch.from_numpy(np.stack([read_image(p) for p in references])))
    model = frozen_detector(net, list(cfg["terms"]), int(cfg["feature_level"]))
    iou = float(cfg["iou"])
    _, pixels, verdict = fit(model, x, task, refs, len(categories) + 1, cfg, seed, lambda *a: judge_instances(*a, iou))
    pixels = pixels.permute(0, 2, 3, 1).cpu().numpy()
    entries = []
    for row in progress(plan, desc="augment instances counterfactual"):
        s, k = samples[row["sample"]], row_of[(row["sample"], row["annotation"], row["target"])]
        image = scaled_copy(images[position[row["sample"]]], pixels[k], cfg["min_strength"],
                            derive_seed(seed, "instance_strength", Path(s["path"]).stem, row["target"], row["copy"]))
        annotations = [{"category": row["target"] if j == row["annotation"] else a["category"],
                        **{key: a[key] for key in ("segmentation", "area", "bbox", "iscrowd")}}
                       for j, a in enumerate(s["annotations"])]
        entries.append(_entry(s, row, image, read_mask(s["mask"], image.shape[:2], len(classes)), annotations))
    summary = {"counterfactuals": len(pairs), "flip_rate": round(float(verdict["flipped"].float().mean()), 4),
               "p_target_before": round(float(verdict["p_before"].mean()), 4),
               "p_target_after": round(float(verdict["p_after"].mean()), 4),
               "mean_abs_change": round(float(np.abs(pixels).mean()), 3)}
    return entries, summary


def write_instance_dataset(out: Path, entries: list[dict], manifest: dict) -> None:
    """Images, semantic masks, COCO `instances.json` and `manifest.json` (`manifest` and the samples) of
    `entries`, atomically."""
    with atomic_dir(out) as tmp:
        rows = []
        for e in entries:
            write_png(tmp / "images" / f"{e['id']}.png", e["image"])
            write_png(tmp / "masks" / f"{e['id']}.png", e["mask"])
            rows.append({"id": e["id"], "scene": e["scene"], "image": f"images/{e['id']}.png",
                         "mask": f"masks/{e['id']}.png", "height": e["image"].shape[0], "width": e["image"].shape[1]})
        write_json(tmp / "instances.json", coco_document(rows, [e["annotations"] for e in entries]))
        write_json(tmp / "manifest.json", manifest | {"samples": [{k: r[k] for k in ("id", "scene", "image", "mask")}
                                                                   for r in rows]})


def run_augment_instances(policy: str, cfg: dict, sources: list[dict], categories: list[str], min_count: int,
                          seed: int, out: str | os.PathLike, source_model: dict | None = None,
                          references: list[dict] | None = None) -> dict:
    """Plan the new images of `sources`' training split, make them with `policy` and write the dataset."""
    kind = cfg.get("type", policy)
    if kind not in INSTANCE_POLICIES:
        raise ValueError(f"instances augment: unknown policy type {kind!r} (known: {INSTANCE_POLICIES})")
    cfg = {k: v for k, v in cfg.items() if k != "type"}
    samples = instance_samples(sources, seed)
    classes = common_classes([src["dataset"] for src in sources])
    plan = augmentation_plan(samples, categories, min_count, seed, relabel=kind == "counterfactual")
    if kind == "baseline":
        entries, summary = baseline_entries(samples, plan, cfg, seed, classes)
    else:
        if source_model is None or not references:
            raise ValueError("instances augment: policy 'counterfactual' needs the source model and reference images "
                             "(--source-model, --references)")
        from realitygap.data import source_samples
        refs = [s.image for s in source_samples(references, seed)]
        entries, summary = counterfactual_entries(samples, plan, cfg, categories, seed, source_model, refs, classes)
    before = image_counts(samples, categories)
    after = image_counts(samples + entries, categories)
    summary |= {"images": len(entries), "image_counts_before": before, "image_counts_after": after,
                "unreached": [c for c in categories if after[c] < min_count]}
    write_instance_dataset(Path(out), entries, {"domain": f"augmented/instances/{policy}", "policy": policy,
                                                "params": cfg, "min_count": min_count, "summary": summary,
                                                "classes": classes.to_json()})
    return summary
