"""`realitygap render`: write a domain's images, masks, depth maps and scene metadata."""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from realitygap.coco import frequency_group, mask_annotation
from realitygap.io import atomic_dir, save_npz, write_json, write_png
from realitygap.progress import progress
from realitygap.render.domain import CUES, DomainFactors, cue_mask, draw_factors, render_image
from realitygap.render.raster import RENDER_CLASSES, rasterize
from realitygap.render.scene import sample_scene
from realitygap.seeding import derive_seed


def render_sample(index: int, domain: str, cfg: dict, seed: int) -> dict:
    """Render sample `index` of `domain`: image, mask, depth and its metadata, in memory."""
    scene_rng = np.random.default_rng(derive_seed(seed, "scene", cfg.get("scene_domain", domain), index))
    scene = sample_scene(scene_rng, cfg["size"], cfg["scene"])
    raster = rasterize(scene)
    factors = draw_factors(cfg["factors"], cfg.get("randomise", {}),
                           np.random.default_rng(derive_seed(seed, "factors", domain, index)))
    image = render_image(scene, raster, factors, np.random.default_rng(derive_seed(seed, "noise", domain, index)))
    meta = {"domain": domain, "index": index, "scene": scene.to_dict(), "factors": factors.__dict__}
    return {"image": image, "mask": raster.mask, "depth": raster.depth, "cues": cue_mask(scene, raster), "meta": meta,
            "instances": instance_annotations(scene, raster)}


def instance_annotations(scene, raster) -> list[dict]:
    """COCO-style annotations (RLE mask, box, area) of each towel's visible pixels."""
    return [{"category": towel.category, **mask_annotation(raster.owner == i)}
            for i, towel in enumerate(scene.towels) if (raster.owner == i).any()]


def coco_document(samples: list[dict], instances: list[list[dict]], size: int | None = None) -> dict:
    """The COCO instance JSON of a rendered domain, with LVIS-style frequency groups per category (images
    `size` pixels square, or each sample's own `width` and `height`)."""
    names = sorted({a["category"] for per_image in instances for a in per_image})
    cat_id = {n: i + 1 for i, n in enumerate(names)}
    images, annotations = [], []
    for image_id, (entry, per_image) in enumerate(zip(samples, instances), start=1):
        images.append({"id": image_id, "file_name": entry["image"], "width": entry.get("width", size),
                       "height": entry.get("height", size)})
        for ann in per_image:
            annotations.append(dict({k: v for k, v in ann.items() if k != "category"},
                                    id=len(annotations) + 1, image_id=image_id, category_id=cat_id[ann["category"]]))
    counts = {n: len({a["image_id"] for a in annotations if a["category_id"] == cat_id[n]}) for n in names}
    categories = [{"id": cat_id[n], "name": n, "image_count": counts[n], "frequency": frequency_group(counts[n])}
                  for n in names]
    return {"images": images, "annotations": annotations, "categories": categories}


def _render_chunk(args: tuple) -> list[dict]:
    indices, domain, cfg, seed = args
    return [render_sample(i, domain, cfg, seed) for i in indices]


def _write_sample(root: Path, sid: str, sample: dict) -> dict:
    write_png(root / "images" / f"{sid}.png", sample["image"])
    write_png(root / "masks" / f"{sid}.png", sample["mask"])
    save_npz(root / "depth" / f"{sid}.npz", depth=sample["depth"].astype(np.float16))
    write_png(root / "cues" / f"{sid}.png", sample["cues"])
    write_json(root / "meta" / f"{sid}.json", sample["meta"])
    return {"id": sid, "scene": f"{sample['meta']['domain']}-scene{sample['meta']['index']:05d}",
            "image": f"images/{sid}.png", "mask": f"masks/{sid}.png", "depth": f"depth/{sid}.npz",
            "cues": f"cues/{sid}.png"}


def run_render(domain: str, cfg: dict, seed: int, out: str | os.PathLike, jobs: int = 1) -> Path:
    """Render `cfg["count"]` samples of `domain` into `out`, written atomically as a whole.

    `cfg` holds `size`, `count`, `scene` (geometry parameters) and `factors` (the domain's look);
    optionally `randomise` ({factor: [low, high]} drawn per image) and `scene_domain` (draw the
    scenes of that domain instead, so two domains differ only in their look).
    """
    DomainFactors.from_dict({**cfg["factors"], **{k: v[0] for k, v in cfg.get("randomise", {}).items()}})
    count = int(cfg["count"])
    chunks = [list(range(i, min(i + 64, count))) for i in range(0, count, 64)]
    out = Path(out)
    with atomic_dir(out) as tmp:
        samples, instances = [], []
        tasks = [(c, domain, cfg, seed) for c in chunks]
        with ProcessPoolExecutor(jobs) if jobs > 1 else contextlib.nullcontext() as pool:
            mapper = pool.map if pool else map
            for chunk in progress(mapper(_render_chunk, tasks), total=len(tasks),
                                  desc=f"render {domain} (chunks of 64 images)"):
                samples += [_write_sample(tmp, f"{domain}_{s['meta']['index']:05d}", s) for s in chunk]
                instances += [s["instances"] for s in chunk]
        write_json(tmp / "instances.json", coco_document(samples, instances, cfg["size"]))
        write_json(tmp / "manifest.json", {
            "domain": domain, "size": cfg["size"], "classes": RENDER_CLASSES.to_json(), "factors": cfg["factors"],
            "randomise": cfg.get("randomise", {}), "cues": {name: {"bit": bit, "factors": list(factors)} for name, (bit, factors) in CUES.items()},
            "samples": samples})
    return out
