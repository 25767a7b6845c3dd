"""`realitygap pseudolabel`: pixel labels for a domain's training images from image-level tags only.

`classifier`: train the tag classifier on the target's tagged training images and on random crops of
labelled domains. `label`: CAM priors -> dense CRF -> affinity random walk -> ignore label for uncertain
pixels, written as a dataset (`images/`, `masks/`, `manifest.json`) that mixes train on like any domain.
The target's own masks, where it has them, are used only to score each step (`steps.json`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from realitygap.classes import ClassSet, dataset_classes
from realitygap.data import Sample, source_samples
from realitygap.io import InputError, atomic_dir, read_image, read_json, read_mask, write_json, write_png
from realitygap.models import load_model
from realitygap.progress import progress
from realitygap.pseudolabel import affinity, classifier, crf, erasing, priors, saliency
from realitygap.tags import contradictions, tag_matrix, tags_of_mask
from realitygap.segmentation_metrics import confusion_matrix, scores_from_confusion
from realitygap.seeding import derive_seed

IGNORE = 255    # pseudo-labels' own ignore value: pixels left unlabelled
log = logging.getLogger(__name__)


def target_entries(dataset: str | os.PathLike, split: str | os.PathLike) -> list[dict]:
    """Manifest entries (`id`, `image`, `mask` or none) of the training split, paths resolved."""
    dataset = Path(dataset)
    by_id = {s["id"]: s for s in read_json(dataset / "manifest.json")["samples"]}
    ids = [e["id"] for e in read_json(split)["train"]]
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise InputError(f"{split}: ids {missing[:5]} are not in {dataset / 'manifest.json'}")
    return [{"id": i, "image": dataset / by_id[i]["image"],
             "mask": dataset / by_id[i]["mask"] if by_id[i].get("mask") else None} for i in ids]


def target_tags(entries: list[dict], dataset: str | os.PathLike, mode: str, min_pixels: int, classes: ClassSet,
                witness: dict | None = None) -> dict[str, list[str]]:
    """Tags of the target images: `dataset` (the ingested tags.json), `masks` (read off the held-out masks,
    standing in for an annotator) or `predicted` (the witness model's predictions, `{weights, model, size,
    device}`)."""
    ids = [e["id"] for e in entries]
    if mode == "dataset":      # written by `ingest --tags`, checked there against all of the domain's images
        stored = read_json(Path(dataset) / "tags.json")
        untagged = [i for i in ids if i not in stored]
        if untagged:
            raise InputError(f"{Path(dataset) / 'tags.json'}: no tags for images {untagged[:5]}")
        return {i: stored[i] for i in ids}
    if mode == "masks":
        unlabelled = [e["id"] for e in entries if e["mask"] is None]
        if unlabelled:
            raise InputError(f"{dataset}: tags from masks, but images {unlabelled[:5]} have none (use tags: dataset)")
        return {e["id"]: tags_of_mask(read_mask(e["mask"]), min_pixels, classes) for e in entries}
    if mode == "predicted":
        if witness is None:
            raise ValueError("pseudolabel: tags `predicted` need the sim-trained model (--witness)")
        net = load_model(witness["weights"], witness["model"], witness["size"], witness.get("device", "auto"))
        tags = {}
        with torch.no_grad():
            for start in progress(range(0, len(entries), 16), desc="predicted tags"):
                chunk = entries[start:start + 16]
                images = torch.from_numpy(np.stack([read_image(e["image"]) for e in chunk]))
                labels = net_labels(net, images)
                tags |= {e["id"]: tags_of_mask(lab, min_pixels, classes) for e, lab in zip(chunk, labels)}
        return tags
    raise ValueError(f"pseudolabel: unknown tags mode {mode!r} (dataset, masks, predicted)")


def net_labels(net: torch.nn.Module, images: torch.Tensor) -> np.ndarray:
    """Predicted label maps (N, H, W) uint8 of a segmentation model."""
    from realitygap.models import forward_logits

    return forward_logits(net, images).argmax(1).to(torch.uint8).cpu().numpy()


def run_classifier(dataset: str, split: str, sources: list[dict], model: dict, cfg: dict, size: int, seed: int,
                   out: str | os.PathLike, device: str = "auto", witness: dict | None = None) -> dict:
    """Train the tag classifier on the target's tagged training images and crops of the labelled
    `sources`; write `model.pth`, `train.json` and the tags used (`tags.json`) to `out`."""
    entries = target_entries(dataset, split)
    classes = dataset_classes(dataset)
    tags = target_tags(entries, dataset, cfg["tags"], cfg["min_pixels"], classes, witness)
    samples = ([{"image": str(s.image), "mask": str(s.mask)} for s in source_samples(sources, seed)]
               + [{"image": str(e["image"]), "tags": tags[e["id"]]} for e in entries])
    summary = classifier.train_classifier(model, cfg["classifier"] | {"min_pixels": cfg["min_pixels"]}, size, samples,
                                          out, derive_seed(seed, "pseudolabel", "classifier"), classes, device)
    write_json(Path(out) / "tags.json", {"mode": cfg["tags"], "tags": tags})
    return summary


def step_scores(labels: np.ndarray, truth: np.ndarray | None, classes: ClassSet) -> dict:
    """mIoU and per-class IoU of pseudo-labels against the truth over the pixels they label, and the
    share of pixels labelled (pixels with the ignore label are not counted)."""
    coverage = round(100.0 * float((labels != IGNORE).mean()), 2)
    if truth is None:
        return {"mIoU_vs_truth": None, "coverage": coverage}
    kept = np.where(labels == IGNORE, IGNORE, truth)
    scores = scores_from_confusion(confusion_matrix(np.where(labels == IGNORE, 0, labels), kept, len(classes)),
                                   classes.names)
    return {"mIoU_vs_truth": scores["mIoU"], "IoU": scores["IoU"], "coverage": coverage}


def confident_labels(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Argmax labels (N, H, W) of per-pixel distributions (N, K, H, W); below `threshold`: IGNORE."""
    labels = probs.argmax(1).astype(np.uint8)
    labels[probs.max(1) < threshold] = IGNORE
    return labels


def normalised(scores: np.ndarray) -> np.ndarray:
    """Scores (N, K, H, W) as per-pixel distributions over the K classes."""
    return scores / np.clip(scores.sum(1, keepdims=True), 1e-8, None)


def train_on_maps(net_config: dict, cfg: dict, images: np.ndarray, labels: np.ndarray, work: Path, seed: int,
                  classes: ClassSet, device: str) -> torch.nn.Module:
    """Train the net `net_config` (an affinity or saliency net) on images (N, H, W, 3) and per-pixel maps (N, H, W)
    (both written under `work`) with the loop settings `cfg`; return it in eval mode."""
    from realitygap.runner import dataloader_config, claim_work_dir, loop_config, run_runner, trained_net
    import realitygap.seg_dataset  # noqa: F401  (registers RealityGapDataset)

    samples = []
    for i, (image, label) in enumerate(zip(images, labels)):
        write_png(work / "images" / f"{i:05d}.png", image)
        write_png(work / "labels" / f"{i:05d}.png", label)
        samples.append(Sample(f"{i:05d}", work / "images" / f"{i:05d}.png", work / "labels" / f"{i:05d}.png"))
    fingerprint = hashlib.sha256(json.dumps([net_config, cfg, seed], sort_keys=True).encode() + images.tobytes()
                                 + labels.tobytes()).hexdigest()
    claim_work_dir(work / "work_dir", fingerprint)
    config = loop_config(cfg, work / "work_dir", seed) | dict(
        default_scope="mmseg",
        model=net_config,
        train_dataloader=dataloader_config(samples, cfg["batch_size"], True, classes),
        optim_wrapper=dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=cfg["lr"], weight_decay=cfg["weight_decay"])),
        param_scheduler=[dict(type="PolyLR", eta_min=cfg["lr"] * 0.01, power=0.9, begin=0, end=cfg["iters"], by_epoch=False)])
    runner = run_runner(config, device)
    return trained_net(runner).to(memory_format=torch.contiguous_format).eval()


def train_affinity(model: dict, cfg: dict, size: int, images: np.ndarray, labels: np.ndarray, work: Path,
                   seed: int, classes: ClassSet, device: str) -> torch.nn.Module:
    """Train the affinity net on images (N, H, W, 3) with confident labels (both written under `work`),
    return it in eval mode."""
    return train_on_maps(affinity.affinity_config(model, size, cfg["dims"], cfg["radius"]), cfg, images, labels, work,
                         seed, classes, device)


def saliency_background(model: dict, cfg: dict, size: int, images: np.ndarray, prior: np.ndarray, work: Path,
                        seed: int, classes: ClassSet, device: str) -> np.ndarray:
    """C²AM-H: the class scores `prior` (N, 1 + C, H, W) with their background score replaced by 1 - the
    foreground probability of a saliency net trained on the images with the priors' hints."""
    hints = saliency.hint_maps(torch.from_numpy(prior), cfg["hint_threshold"], cfg["background_threshold"]).numpy()
    net = train_on_maps(saliency.saliency_config(model, size, cfg["hint_weight"]), cfg | {"checkpoint_interval": cfg["iters"]},
                        images, hints, work, seed, classes, device)
    fg = torch.cat([saliency.foreground(net, torch.from_numpy(images[s:s + 32])) for s in range(0, len(images), 32)])
    out = prior.copy()
    out[:, 0] = 1 - fg.numpy()
    return out


def propagate(net: torch.nn.Module, images: np.ndarray, scores: np.ndarray, cfg: dict) -> np.ndarray:
    """Random walk of the class scores (N, K, H, W) over each image's affinity transition matrix."""
    out = np.empty_like(scores)
    for i in progress(range(len(images)), desc="random walk"):
        features = affinity.embed(net, torch.from_numpy(images[i:i + 1]))[0].float().cpu()
        transition = affinity.transition_matrix(features, cfg["radius"], cfg["beta"])
        out[i] = affinity.random_walk(transition, scores[i], cfg["steps"])
    return out


def cam_priors(net: torch.nn.Module, images: np.ndarray, tags: np.ndarray, cfg: dict, stride: int) -> dict[str, np.ndarray]:
    """Class scores (N, 1 + C, H, W) of every CAM method of `cfg["cams"]["methods"]`, in chunks of 16 images."""
    out = {}
    for method in cfg["cams"]["methods"]:
        chunks = []
        for start in progress(range(0, len(images), 16), desc=f"CAM priors ({method})"):
            cams = priors.class_activation_maps(net, torch.from_numpy(images[start:start + 16]),
                                                torch.from_numpy(tags[start:start + 16]), method,
                                                cfg["cams"]["scales"], cfg["cams"]["flips"], stride)
            chunks.append(priors.class_scores(cams.numpy(), cfg["background"]))
        out[method] = np.concatenate(chunks)
    return out


def pseudo_labels(net: torch.nn.Module, images: np.ndarray, tags: np.ndarray, model: dict, cfg: dict, size: int,
                  seed: int, work: Path, classes: ClassSet, device: str = "auto") -> dict[str, np.ndarray]:
    """Label maps (N, H, W) after each step, in order: `prior_<method>` per CAM method, `saliency` (the refined
    method's priors with C²AM-H's background, when `cfg["saliency"]`), `crf` (the refined method's priors), `affinity` (the random walk of the CRF marginals, or of the priors as in AffinityNet:
    `affinity.walk`), `final` (uncertain pixels IGNORE)."""
    from realitygap.model_configs import stride

    scores = cam_priors(net, images, tags, cfg, stride(model))
    labels = {f"prior_{method}": score.argmax(1).astype(np.uint8) for method, score in scores.items()}
    prior = scores[cfg["cams"]["refine"]]
    if cfg.get("saliency"):
        prior = saliency_background(model, cfg["saliency"], size, images, prior, work.parent / "saliency",
                                    derive_seed(seed, "pseudolabel", "saliency"), classes, device)
        labels["saliency"] = prior.argmax(1).astype(np.uint8)
    refined = np.stack([crf.dense_crf(img, sc, cfg["crf"]["iterations"], cfg["crf"]["gaussian"], cfg["crf"]["bilateral"])
                        for img, sc in progress(list(zip(images, prior)), desc="dense CRF")])
    labels["crf"] = refined.argmax(1).astype(np.uint8)
    aff_cfg = cfg["affinity"] | {"checkpoint_interval": cfg["affinity"]["iters"]}
    aff_net = train_affinity(model, aff_cfg, size, images, confident_labels(refined, aff_cfg["confidence"]), work,
                             derive_seed(seed, "pseudolabel", "affinity"), classes, device)
    walked = normalised(propagate(aff_net, images, refined if aff_cfg["walk"] == "crf" else prior, aff_cfg))
    labels["affinity"] = walked.argmax(1).astype(np.uint8)
    labels["final"] = confident_labels(walked, cfg["ignore_below"])
    return labels


def run_label(dataset: str, split: str, classifier_dir: str, model: dict, cfg: dict, size: int, seed: int,
              out: str | os.PathLike, results: str | os.PathLike, device: str = "auto") -> dict:
    """Pseudo-label the target's training images and write the dataset to `out`; per-step scores, the
    contradicted tags and an example figure go to `results`."""
    from realitygap import figures

    results, entries = Path(results), target_entries(dataset, split)
    given = read_json(Path(classifier_dir) / "tags.json")
    net = classifier.load_classifier(Path(classifier_dir) / "model.pth", model, size,
                                     cfg["classifier"].get("head"), device)
    classes = dataset_classes(dataset)
    images = np.stack([read_image(e["image"]) for e in entries])
    truth = np.stack([read_mask(e["mask"], images.shape[1:3], len(classes)) for e in entries]) \
        if all(e["mask"] is not None for e in entries) else None
    ids = [e["id"] for e in entries]
    tags = tag_matrix([given["tags"][i] for i in ids], classes)
    probs = np.concatenate([classifier.tag_probabilities(net, torch.from_numpy(images[s:s + 32])).cpu().numpy()
                            for s in range(0, len(images), 32)])
    contradicted = contradictions(ids, tags, probs, *cfg["contradiction"], classes)
    left_out = {c["image"] for c in contradicted}
    keep = np.array([i not in left_out for i in ids])
    images, tags, truth = images[keep], tags[keep], truth[keep] if truth is not None else None
    labels = pseudo_labels(net, images, tags, model, cfg, size, seed, results / "affinity", classes, device)
    steps = {name: step_scores(label, truth, classes) for name, label in labels.items()}
    kept = [e for e, k in zip(entries, keep) if k]
    _write_dataset(out, kept, labels["final"], dataset, classes)
    trained = Path(classifier_dir) / "train.json"
    training = erasing.variant_name(read_json(trained)["params"].get("erasing")) if trained.is_file() else None
    summary = {"domain": read_json(Path(dataset) / "manifest.json").get("domain"), "tags": given["mode"],
               "classifier_training": training,
               "images": len(entries), "labelled": len(kept), "contradicted": contradicted,
               "refined_method": cfg["cams"]["refine"], "steps": steps}
    write_json(results / "steps.json", summary)
    _examples(images, truth, labels, results / "examples.png", 4, figures, classes)
    log.info("pseudo-labels: %s", {k: v["mIoU_vs_truth"] for k, v in steps.items()})
    return summary


def _write_dataset(out: str | os.PathLike, entries: list[dict], labels: np.ndarray, source: str,
                   classes: ClassSet) -> None:
    rows = []
    with atomic_dir(out) as tmp:
        for entry, label in zip(entries, labels):
            (tmp / "images").mkdir(exist_ok=True)
            shutil.copyfile(entry["image"], tmp / "images" / f"{entry['id']}.png")
            write_png(tmp / "masks" / f"{entry['id']}.png", label)
            rows.append({"id": entry["id"], "scene": entry["id"], "image": f"images/{entry['id']}.png",
                         "mask": f"masks/{entry['id']}.png"})
        write_json(tmp / "manifest.json", {"domain": f"pseudo_{Path(source).name}", "source": str(source),
                                           "classes": {**classes.to_json(), "ignore_index": IGNORE}, "samples": rows})


def _colour(label: np.ndarray, classes: ClassSet) -> np.ndarray:
    out = np.full((*label.shape, 3), 255, np.uint8)      # white: ignored
    known = label != IGNORE
    out[known] = np.array(classes.palette, np.uint8)[label[known]]
    return out


def _examples(images: np.ndarray, truth: np.ndarray | None, labels: dict[str, np.ndarray], path: Path,
              count: int, figures, classes: ClassSet) -> None:
    columns = ["image", *(["truth"] if truth is not None else []), *labels]
    tiles = [[images[i], *([_colour(truth[i], classes)] if truth is not None else []),
              *(_colour(v[i], classes) for v in labels.values())]
             for i in range(min(count, len(images)))]
    figures.attribution_grid([f"image {i}" for i in range(len(tiles))], columns, tiles, path,
                             "Pseudo-labels step by step (" + ", ".join(f"{name}: RGB{tuple(colour)}" for name, colour
                                                                      in zip(classes.names, classes.palette))
                             + ", white: ignored)")
