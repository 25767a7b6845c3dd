"""`realitygap frontier`: the generative frontier explorer. A VAE learns the images of both domains and a
domain classifier tells their reconstructions apart; walks in the VAE's latent space from source (sim) test images to
target (real) test images show where the classifier's 50/50 frontier lies and where the
source-trained model's seam prediction breaks down: the reality gap made visible. A WGAN-GP with the
domain classifier in the loop shows, epoch by epoch, what the classifier takes for the target domain."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from realitygap.classes import common_classes
from realitygap.data import load_samples
from realitygap.chapters import frontier as report
from realitygap.frontier.train import train_domain_classifier, train_vae, train_wgan_gp
from realitygap.frontier.walk import breakdown_step, walk
from realitygap.io import atomic_dir, read_image, save_npz, write_json
from realitygap.models import load_model, resolve_device, save_weights


def load_images(dataset: str, split: str, subset: str, size: int) -> tuple[list[str], torch.Tensor]:
    """Ids and images (N, 3, size, size) in [-1, 1] of a split's subset, sorted by id."""
    samples = sorted(load_samples(dataset, split, subset), key=lambda s: s.id)
    if not samples:
        raise ValueError(f"frontier: {dataset} has no {subset} images in {split}")
    images = np.stack([cv2.resize(read_image(s.image), (size, size), interpolation=cv2.INTER_AREA) for s in samples])
    return [s.id for s in samples], torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def datasets_name(datasets: dict[str, list[str]], role: str) -> str:
    """The domain name of a role (the dataset folder's name)."""
    return Path(datasets[role][0]).name


@torch.no_grad()
def reconstruct(vae, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The VAE's decoding of each image's mean code. The domain classifier learns and is tested on these,
    so that it judges the walk's frames by content, not by the VAE's blur (which real photos share)."""
    return torch.cat([vae.decoder(vae.encode(images[i:i + batch_size])[0]) for i in range(0, len(images), batch_size)])


def classifier_accuracy(classifier, source: torch.Tensor, target: torch.Tensor) -> float:
    """Share of held-out images of both domains (as the VAE reconstructs them) the domain classifier gets right."""
    with torch.no_grad():
        right = (classifier(source) < 0).float().sum() + (classifier(target) >= 0).float().sum()
    return round(float(right / (len(source) + len(target))), 4)


def summarise(walks: list[dict], source: str) -> dict:
    """Mean frontier and breakdown positions (t in [0, 1]) and how often the breakdown comes first."""
    frontier = [w["t"][w["frontier"]] for w in walks if w["frontier"] is not None]
    breakdown = [w["t"][w["breakdown"]] for w in walks if w["breakdown"] is not None]
    first = [w for w in walks if w["breakdown"] is not None and (w["frontier"] is None or w["breakdown"] < w["frontier"])]
    mean = lambda v: round(float(np.mean(v)), 4) if v else None  # noqa: E731
    return {"pairs": len(walks), "frontier_t_mean": mean(frontier), "frontier_found": len(frontier),
            "breakdown_t_mean": mean(breakdown), "breakdown_found": len(breakdown),
            "breakdown_before_frontier": len(first), "source_model": source}


def run_frontier(datasets: dict[str, list[str]], weights: dict[str, str], model: dict, size: int, cfg: dict,
                 out: str | os.PathLike, device: str = "auto", seed: int = 0) -> dict:
    """`datasets`: {"source"|"target": [dataset, split file]}; `weights`: {mix: model.pth} of the
    `source_mix`- and `target_mix`-trained segmentation models. Writes frontier.json, arrays, figures, nets."""
    dev = resolve_device(device)
    classes = common_classes([datasets["source"][0], datasets["target"][0]])
    class_index = classes.index(cfg["class"], "frontier/class")
    s = cfg["size"]
    train = {role: load_images(*datasets[role], "train", s)[1].to(dev) for role in ("source", "target")}
    test = {role: load_images(*datasets[role], "test", s) for role in ("source", "target")}
    both = torch.cat([train["source"], train["target"]])
    labels = torch.cat([torch.zeros(len(train["source"])), torch.ones(len(train["target"]))]).to(dev)
    vae = train_vae(both, cfg["vae"], seed)
    classifier = train_domain_classifier(reconstruct(vae, both), labels, cfg["classifier"], seed)
    towards = 1.0 if cfg["gan"]["towards"] == "target" else 0.0
    generator, epochs = train_wgan_gp(both, classifier, cfg["gan"] | {"target": towards}, seed)
    order = [cfg["source_mix"], cfg["target_mix"]]
    missing = [m for m in order if m not in weights]
    if missing:
        raise ValueError(f"frontier: no weights for the mixes {missing} (given: {sorted(weights)})")
    models = {mix: load_model(weights[mix], model, size, device) for mix in order}
    source_mix = order[0]
    walks = []
    for k in range(min(cfg["pairs"], len(test["source"][0]), len(test["target"][0]))):
        w = walk(vae, classifier, models, test["source"][1][k].to(dev), test["target"][1][k].to(dev), cfg["steps"],
                 size, class_index)
        w |= {"source_id": test["source"][0][k], "target_id": test["target"][0][k],
              "breakdown": breakdown_step(w["share"][source_mix], w["share_on_ends"][source_mix][0])}
        walks.append(w)
    arrays = ("frames", "predictions")
    result = {"summary": summarise(walks, source_mix) | {
                  "classifier_test_accuracy": classifier_accuracy(classifier, reconstruct(vae, test["source"][1].to(dev)),
                                                                  reconstruct(vae, test["target"][1].to(dev))),
                  "gan_final_p_target": round(float(np.mean(epochs[-1]["p_target"])), 4) if epochs else None},
              "class": cfg["class"], "walks": [{k: v for k, v in w.items() if k not in arrays} for w in walks],
              "gan": [{k: v for k, v in e.items() if k != "images"} for e in epochs]}
    with atomic_dir(Path(out)) as tmp:
        write_json(tmp / "frontier.json", result)
        save_npz(tmp / "walks.npz", frames=np.stack([w["frames"] for w in walks]),
                 **{f"pred_{mix}": np.stack([w["predictions"][mix] for w in walks]) for mix in models})
        for name, net in (("vae", vae), ("classifier", classifier), ("generator", generator)):
            save_weights(net, tmp / f"{name}.pth")
        report.strips(walks, list(models), cfg["class"], classes.palette, tmp / "strips.png")
        report.gan_epochs(epochs, datasets_name(datasets, cfg["gan"]["towards"]), tmp / "gan_epochs.png")
    return result
