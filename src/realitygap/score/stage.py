"""`realitygap score explanations`: faithfulness, localisation and sanity scores of explanations
(segmentation scores and the gap matrix are in `score.matrix`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from realitygap.data import samples_of
from realitygap.io import read_json, write_json


def run_score_explanations(explanations: str | os.PathLike, weights: str, model: dict, size: int,
                           datasets: dict[str, str], out: str | os.PathLike, device: str = "auto",
                           cfg: dict | None = None) -> dict:
    """Faithfulness, localisation and the randomisation sanity check of one explain output, on all
    explained images and per domain. `cfg`: `deletion_steps`, `sanity_images`."""
    import torch

    from realitygap.explain import build_targets
    from realitygap.models import load_model
    from realitygap.inference import load_batch
    from realitygap.explain.scores import faithfulness, localisation

    cfg = {"deletion_steps": 16, "sanity_images": 4, **(cfg or {})}
    explanations = Path(explanations)
    meta = read_json(explanations / "meta.json")
    with np.load(explanations / "maps.npz") as data:
        maps, truth, pred = data["maps"].astype(np.float32), data["truth"], data["pred"]
    samples = samples_of(meta["ids"], meta["domains"], datasets)
    images, _ = load_batch(samples, common_size=True)   # as explain loaded them
    net = load_model(weights, model, size, device)
    names = meta["class_set"]["names"]
    class_indices = [names.index(c) for c in meta["classes"]]
    labels = torch.from_numpy(pred if meta["region"] != "truth" else truth).long()
    box = tuple(meta["box"]) if meta["region"] == "box" else None
    domains = np.array(meta["domains"])

    groups = {"all": np.ones(len(domains), bool), **{d: domains == d for d in sorted(set(meta["domains"]))}}
    targets = build_targets(labels, class_indices, len(names), box)
    faith = faithfulness(net, images, maps, targets, names, cfg["deletion_steps"], groups)
    result = {"method": meta["method"], "images": len(meta["ids"]), "faithfulness": faith.pop("all"),
              "localisation": localisation(maps, truth, class_indices, names),
              "by_domain": {d: {"faithfulness": faith[d],
                                "localisation": localisation(maps[groups[d]], truth[groups[d]], class_indices, names)}
                            for d in faith}}
    result["sanity"] = sanity(net, meta, images, labels, maps, class_indices, box, cfg["sanity_images"])
    write_json(out, result)
    return result


def sanity(net, meta: dict, images: np.ndarray, labels: torch.Tensor, maps: np.ndarray, class_indices: list[int],
           box, count: int) -> dict:
    """The cascading randomisation test on the first `count` explained images of each domain."""
    import torch

    from realitygap.explain import METHODS, build_targets
    from realitygap.explain.scores import sanity_check

    domains = np.array(meta["domains"])
    pick = np.concatenate([np.flatnonzero(domains == d)[:count] for d in sorted(set(meta["domains"]))])
    targets = build_targets(labels[pick], class_indices, len(meta["class_set"]["names"]), box)
    x = torch.from_numpy(images[pick])

    def explain(model, imgs, tgts):
        method = METHODS[meta["method"]](model, meta["target_layer"], seed=meta.get("seed", 0),
                                         **meta.get("options", {}))
        return method.explain(imgs, tgts).cpu().numpy()
    return {"images": int(len(pick)), **sanity_check(net, explain, x, targets, maps[pick])}
