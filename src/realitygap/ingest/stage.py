"""`realitygap ingest`: import a user's domain into the dataset layout every stage reads
(`images/`, `masks/`, `manifest.json`, `instances.json` for COCO input, `tags.json` for image-level tags).

Everything is validated before anything is written, and the dataset is written atomically as a
whole, so a bad file leaves nothing half-ingested. Every error names the file (and the row or id).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import numpy as np

from realitygap.classes import ClassSet
from realitygap.coco import annotation_mask
from realitygap.ingest.extras import domain_factors, read_depth_folder, read_render_params
from realitygap.io import InputError, atomic_dir, read_image, read_json, read_mask, save_npz, write_json, write_png
from realitygap.tags import read_tags

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def safe_member(root: Path, name: str, source: str) -> Path:
    """`root / name` for a relative `name` that stays inside `root`; traversal raises InputError."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if not name or pure.is_absolute() or ".." in pure.parts:
        raise InputError(f"{source}: file name {name!r} must be a relative path inside {root}")
    return root / Path(*pure.parts)


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"{folder}: image folder not found")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise InputError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found")
    return images


def _value_map(class_map: dict, classes: ClassSet, source: str) -> np.ndarray:
    """A 256-entry lookup from mask values to class indices (-1 = not in the class map)."""
    lut = np.full(256, -1, np.int16)
    for value, name in class_map.items():
        index = classes.index(name, f"{source} (value {value})")
        if not str(value).isdigit() or not 0 <= int(value) <= 255:
            raise InputError(f"{source}: class map key {value!r} must be a mask value 0..255")
        lut[int(value)] = index
    return lut


def _simulator_extras(samples: list, simulator: dict | None) -> tuple[dict, dict]:
    """Depth maps and the render-parameter table of a simulator's domain (`simulator`: {depth, render_params,
    factors}), each checked against the images; empty without them."""
    simulator = simulator or {}
    depth = read_depth_folder(simulator["depth"], {sid: image.shape[:2] for sid, image, _ in samples}) \
        if simulator.get("depth") else {}
    table = read_render_params(simulator["render_params"], [sid for sid, _, _ in samples], simulator.get("factors")) \
        if simulator.get("render_params") else {}
    return depth, table


def _write_dataset(out: Path, domain: str, samples: list[tuple[str, np.ndarray, np.ndarray | None]],
                   classes: ClassSet, extra: dict | None = None, tags: str | os.PathLike | None = None,
                   simulator: dict | None = None) -> dict:
    extra = dict(extra or {})
    if tags is not None:       # image-level tags, checked against the images (pseudolabel's input)
        extra["tags.json"] = read_tags(tags, [sid for sid, _, _ in samples], classes)
    depth, table = _simulator_extras(samples, simulator)
    entries = []
    with atomic_dir(out) as tmp:
        for sid, image, mask in samples:
            write_png(tmp / "images" / f"{sid}.png", image)
            entry = {"id": sid, "scene": sid, "image": f"images/{sid}.png"}
            if mask is not None:
                write_png(tmp / "masks" / f"{sid}.png", mask)
                entry["mask"] = f"masks/{sid}.png"
            if sid in depth:
                save_npz(tmp / "depth" / f"{sid}.npz", depth=depth[sid])
                entry["depth"] = f"depth/{sid}.npz"
            if sid in table:
                write_json(tmp / "meta" / f"{sid}.json", {"factors": table[sid]})
            entries.append(entry)
        manifest = {"domain": domain, "classes": classes.to_json(), "source": "ingest", "samples": entries}
        if table:
            manifest["factors"] = domain_factors(table)
        for name, data in extra.items():
            write_json(tmp / name, data)
        write_json(tmp / "manifest.json", manifest)
    return manifest


def ingest_mask_folders(images: str | os.PathLike, masks: str | os.PathLike, class_map: dict, classes: ClassSet,
                        domain: str, out: str | os.PathLike, tags: str | os.PathLike | None = None,
                        simulator: dict | None = None) -> dict:
    """Import `images/<stem>.*` with `masks/<stem>.png`; mask values are mapped by `class_map` onto `classes`.
    `simulator` ({depth, render_params, factors}) adds a simulator's depth maps and render-parameter table."""
    images, masks = Path(images), Path(masks)
    lut = _value_map(class_map, classes, "class map")
    samples = []
    for path in _images_in(images):
        image = read_image(path)
        mask_path = masks / f"{path.stem}.png"
        raw = read_mask(mask_path, image.shape[:2])
        labels = lut[raw]
        if (labels < 0).any():
            bad = sorted(np.unique(raw[labels < 0]).tolist())
            raise InputError(f"{mask_path}: mask values {bad} are not in the class map {sorted(class_map)}")
        samples.append((path.stem, image, labels.astype(np.uint8)))
    _check_unique([s[0] for s in samples], images)
    return _write_dataset(Path(out), domain, samples, classes, tags=tags, simulator=simulator)


def ingest_unlabeled(images: str | os.PathLike, classes: ClassSet, domain: str, out: str | os.PathLike,
                     tags: str | os.PathLike | None = None) -> dict:
    """Import images without masks (for style transfer towards them, or with `tags` of `classes` for
    pseudo-labels)."""
    paths = _images_in(Path(images))
    _check_unique([p.stem for p in paths], Path(images))
    return _write_dataset(Path(out), domain, [(p.stem, read_image(p), None) for p in paths], classes, tags=tags)


def _check_unique(ids: list, source: Path | str, what: str = "image id") -> None:
    seen, dupes = set(), set()
    for i in ids:
        (dupes if i in seen else seen).add(i)
    if dupes:
        raise InputError(f"{source}: duplicate {what}s {sorted(dupes, key=str)[:5]}")


def _check_coco_structure(coco: dict, source: Path) -> None:
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise InputError(f"{source}: COCO JSON needs a list under {key!r}")
    _check_unique([im.get("id") for im in coco["images"]], source)
    _check_unique([a.get("id") for a in coco["annotations"]], source, "annotation id")
    _check_unique([c.get("id") for c in coco["categories"]], source, "category id")


def _check_annotation(ann: dict, image: dict, categories: set, source: Path) -> None:
    where = f"{source}: annotation {ann.get('id')}"
    if ann.get("category_id") not in categories:
        raise InputError(f"{where}: unknown category_id {ann.get('category_id')}")
    w, h = image["width"], image["height"]
    x, y, bw, bh = ann.get("bbox", [0, 0, 0, 0])
    if x < 0 or y < 0 or x + bw > w + 0.5 or y + bh > h + 0.5:
        raise InputError(f"{where}: bbox {ann['bbox']} lies outside its image {image['file_name']} ({w}x{h})")
    seg = ann.get("segmentation")
    if isinstance(seg, list):
        for poly in seg:
            xs, ys = np.asarray(poly[0::2], float), np.asarray(poly[1::2], float)
            if len(poly) < 6 or len(xs) != len(ys):
                raise InputError(f"{where}: a polygon needs at least 3 (x, y) points")
            if xs.min() < 0 or ys.min() < 0 or xs.max() > w + 0.5 or ys.max() > h + 0.5:
                raise InputError(f"{where}: polygon lies outside its image {image['file_name']} ({w}x{h})")
    elif not isinstance(seg, dict):
        raise InputError(f"{where}: segmentation must be polygons or RLE")


def ingest_coco(coco_json: str | os.PathLike, images: str | os.PathLike, class_map: dict, classes: ClassSet,
                domain: str, out: str | os.PathLike, tags: str | os.PathLike | None = None,
                simulator: dict | None = None) -> dict:
    """Import a COCO instance data set. `class_map` maps category names to classes of `classes`; masks are
    painted in label order (a later class over an earlier one), unmapped categories are refused."""
    source, images = Path(coco_json), Path(images)
    coco = read_json(source)
    _check_coco_structure(coco, source)
    categories = {c["id"]: c["name"] for c in coco["categories"]}
    unmapped = sorted(set(categories.values()) - set(class_map))
    if unmapped:
        raise InputError(f"{source}: categories {unmapped} have no entry in the class map")
    indices = {name: classes.index(cls, f"class map (category {name!r})") for name, cls in class_map.items()}
    label = {cid: indices[name] for cid, name in categories.items()}
    by_image = {im["id"]: [] for im in coco["images"]}
    for ann in coco["annotations"]:
        if ann.get("image_id") not in by_image:
            raise InputError(f"{source}: annotation {ann.get('id')} points at unknown image_id {ann.get('image_id')}")
        by_image[ann["image_id"]].append(ann)
    samples = []
    for im in coco["images"]:
        path = safe_member(images, im.get("file_name", ""), f"{source}: image {im.get('id')}")
        image = read_image(path)
        if image.shape[:2] != (im["height"], im["width"]):
            raise InputError(f"{path}: size {image.shape[1]}x{image.shape[0]} differs from the COCO entry "
                             f"{im['width']}x{im['height']}")
        mask = np.zeros(image.shape[:2], np.uint8)
        for ann in by_image[im["id"]]:
            _check_annotation(ann, im, set(categories), source)
        for ann in sorted(by_image[im["id"]], key=lambda a: label[a["category_id"]]):  # later classes on top
            mask[annotation_mask(ann, im["height"], im["width"])] = label[ann["category_id"]]
        samples.append((Path(im["file_name"]).stem, image, mask))
    _check_unique([s[0] for s in samples], source, "image file stem")
    stems = {im["id"]: Path(im["file_name"]).stem for im in coco["images"]}
    instances = dict(coco, images=[dict(im, file_name=f"images/{stems[im['id']]}.png") for im in coco["images"]])
    return _write_dataset(Path(out), domain, samples, classes, {"instances.json": instances}, tags, simulator)
