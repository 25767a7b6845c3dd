"""`realitygap instances explain`: attributions of the same objects in several Mask R-CNN models.

On the first test images of a domain, the largest ground-truth object of each image is the target. In
each model it is matched by IoU to a detection of its category, whose box becomes the RoI; a model that
misses it is explained on the ground-truth box (recorded as not detected). Every method runs on every
model, so the maps of the `sim`- and `real`-trained models on one object sit side by side. The share of
each map's mass on the object's mask measures whether a model looks at the object."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from realitygap.coco import annotation_mask
from realitygap.detection.data import category_labels, instance_samples
from realitygap.detectors import detect, load_detector
from realitygap.explain import INSTANCE_METHODS, InstanceTarget, match_instances
from realitygap.explain.overlay import overlay
from realitygap.io import atomic_dir, read_image, save_npz, write_json
from realitygap.models import normalise
from realitygap.figures import attribution_grid


def make_instance_explainer(net: torch.nn.Module, name: str, options: dict, seed: int):
    """Method `name` with `options`; an entry may name another method (`method: instance_gradcam`) so one
    method can run twice with other options (Grad-CAM on the class score and on the mask head)."""
    options = dict(options)
    method = options.pop("method", name)
    if method not in INSTANCE_METHODS:
        raise ValueError(f"instances explain: unknown method {method!r} (known: {sorted(INSTANCE_METHODS)})")
    return INSTANCE_METHODS[method](net, seed=seed, **options)


def object_targets(samples: list[dict], categories: list[str]) -> list[dict]:
    """The largest ground-truth object of each sample: its label, box (x0, y0, x1, y1) and mask."""
    out = []
    for image, s in enumerate(samples):
        ann = max(s["annotations"], key=lambda a: a["area"])
        x, y, w, h = ann["bbox"]
        out.append({"image": image, "label": category_labels(categories, [ann], s["path"])[0],
                    "box": [x, y, x + w, y + h], "mask": annotation_mask(ann, s["height"], s["width"])})
    return out


def model_targets(net: torch.nn.Module, x: torch.Tensor, objects: list[dict], iou: float) -> tuple[list, list[bool]]:
    """Each object's target in one model: its matched detection's box, else the ground-truth box."""
    targets, found = [], []
    for obj, detections in zip(objects, detect(net, x)):
        box = torch.tensor([obj["box"]], dtype=torch.float32, device=x.device)
        match = match_instances(box, torch.tensor([obj["label"]], device=x.device), detections, 0, iou)[0]
        found.append(match is not None)
        targets.append(InstanceTarget(obj["image"], obj["label"], match.box if match else box[0],
                                      torch.from_numpy(obj["mask"]).to(x.device)))
    return targets, found


def inside_share(maps: np.ndarray, masks: np.ndarray) -> list[float]:
    """The share of each map's total mass that lies on its object's mask."""
    return [float(m[k].sum() / max(m.sum(), 1e-12)) for m, k in zip(maps, masks)]


def counterfactual_figure(images: np.ndarray, masks: np.ndarray, maps: dict, moved: dict, meta: dict,
                          categories: list[str], path: Path) -> None:
    """Rows: image x model x counterfactual method (with its direction, categories and verdict);
    columns: the image, the counterfactual x', and |M| over the image."""
    entries = []
    for key, images_after in moved.items():
        name, method = key.split("__")
        for k, row in enumerate(meta["models"][name]["counterfactual"][method]["rows"]):
            verdict = "flipped" if row["flipped"] else "not flipped"
            i = row["image"]
            entries.append((i, f"img {i + 1}: {name}\n{row['direction']} {categories[row['label']]}\n-> "
                               f"{categories[row['target']]}: {verdict}\np {row['p_before']:.2f} -> {row['p_after']:.2f}",
                            [images[i], images_after[k], overlay(images[i], maps[key][k], masks[k])]))
    entries.sort(key=lambda e: e[0])                   # the models' counterfactuals of one image side by side
    attribution_grid([e[1] for e in entries], ["image", "counterfactual x'", "|M|"], [e[2] for e in entries], path,
                     "What must change for each detector to answer otherwise about the object")


def run_explain_instances(weights: dict[str, str], model: dict, categories: list[str], dataset: str,
                          split: str | None, methods: dict[str, dict], num_images: int, iou: float, seed: int,
                          out: str | os.PathLike, device: str = "auto") -> dict:
    """Maps (`maps.npz`: `<model>__<method>` -> (K, H, W)), `meta.json` (targets, detection, share on the
    object; a counterfactual method's rows), `attributions.png` (rows: image x model, columns: methods) and,
    for counterfactual methods, the images x' (`counterfactuals.npz`) and `counterfactuals.png` under `out`."""
    samples = [s for s in instance_samples([{"dataset": dataset, "split": split}], seed, "test")
               if s["annotations"]][:num_images]
    if not samples:
        raise ValueError(f"instances explain: no test image of {dataset} has an annotated object")
    objects = object_targets(samples, categories)
    masks = np.stack([o["mask"] for o in objects])
    images = np.stack([read_image(s["path"]) for s in samples])
    maps, moved, meta = {}, {}, {"images": [s["path"] for s in samples], "objects": [
        {"category": categories[o["label"]], "box": o["box"]} for o in objects], "methods": methods, "models": {}}
    for name, path in weights.items():
        net = load_detector(path, model, categories, device)
        x = normalise(net, torch.from_numpy(images))
        targets, found = model_targets(net, x, objects, iou)
        meta["models"][name] = {"detected": found, "share_on_object": {}}
        for method, options in methods.items():
            explainer = make_instance_explainer(net, method, options, seed)
            result = explainer.explain(torch.from_numpy(images), targets)
            maps[f"{name}__{method}"] = result.cpu().numpy().astype(np.float32)
            meta["models"][name]["share_on_object"][method] = inside_share(maps[f"{name}__{method}"], masks)
            if "counterfactual" in getattr(explainer, "extras", {}):
                moved[f"{name}__{method}"] = explainer.extras.pop("counterfactual")
                meta["models"][name].setdefault("counterfactual", {})[method] = explainer.extras
    with atomic_dir(out) as tmp:
        save_npz(tmp / "maps.npz", **maps)
        write_json(tmp / "meta.json", meta)
        rows = [f"{Path(s['path']).stem}\n{name}" for s in samples for name in weights]
        tiles = [[overlay(images[i], maps[f"{name}__{m}"][i], masks[i]) for m in methods]
                 for i in range(len(samples)) for name in weights]
        attribution_grid(rows, list(methods), tiles, tmp / "attributions.png",
                         "The same objects in each Mask R-CNN (white: the object's true mask)")
        if moved:
            save_npz(tmp / "counterfactuals.npz", **moved)
            counterfactual_figure(images, masks, maps, moved, meta, categories, tmp / "counterfactuals.png")
    return meta
