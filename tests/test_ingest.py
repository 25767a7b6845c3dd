"""Ingest of users' data: round trips and every bad-input case with the message the user sees."""

import json

import cv2
import numpy as np
import pytest

from realitygap.ingest import ingest_coco, ingest_mask_folders, ingest_unlabeled
from realitygap.io import InputError, read_json, read_mask
from tests.conftest import bench_classes

CLASS_MAP = {"0": "background", "128": "towel", "255": "seam"}
CLASSES = bench_classes()


def _folders(tmp_path, n=3, size=(24, 32)):
    (tmp_path / "img").mkdir()
    (tmp_path / "msk").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(str(tmp_path / f"img/a{i}.png"), rng.integers(0, 255, (*size, 3), dtype=np.uint8))
        mask = np.zeros(size, np.uint8)
        mask[4:12, 4:20] = 128
        mask[4:6, 4:20] = 255
        cv2.imwrite(str(tmp_path / f"msk/a{i}.png"), mask)
    return tmp_path / "img", tmp_path / "msk"


def test_mask_folders_are_mapped_to_classes(tmp_path):
    images, masks = _folders(tmp_path)
    manifest = ingest_mask_folders(images, masks, CLASS_MAP, CLASSES, "mine", tmp_path / "out")
    assert [s["id"] for s in manifest["samples"]] == ["a0", "a1", "a2"]
    mask = read_mask(tmp_path / "out/masks/a0.png", num_classes=3)
    assert mask[5, 5] == 2 and mask[8, 8] == 1 and mask[0, 0] == 0


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "img/a1.png").write_bytes(b"garbage"), "a1.png: not a readable image"),
    (lambda d: cv2.imwrite(str(d / "msk/a1.png"), np.zeros((5, 5), np.uint8)), "a1.png: mask size 5x5"),
    (lambda d: cv2.imwrite(str(d / "msk/a2.png"), np.full((24, 32), 77, np.uint8)), r"a2.png: mask values \[77\]"),
    (lambda d: (d / "msk/a0.png").unlink(), "a0.png: mask not found"),
])
def test_bad_mask_folder_input_is_named_and_leaves_nothing(tmp_path, damage, message):
    images, masks = _folders(tmp_path)
    damage(tmp_path)
    with pytest.raises(InputError, match=message):
        ingest_mask_folders(images, masks, CLASS_MAP, CLASSES, "mine", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_unknown_class_in_class_map(tmp_path):
    images, masks = _folders(tmp_path)
    with pytest.raises(InputError, match="unknown class 'sock'"):
        ingest_mask_folders(images, masks, {"0": "sock"}, CLASSES, "mine", tmp_path / "out")


def test_unlabeled_images(tmp_path):
    images, _ = _folders(tmp_path)
    manifest = ingest_unlabeled(images, CLASSES, "photos", tmp_path / "out")
    assert len(manifest["samples"]) == 3 and "mask" not in manifest["samples"][0]


def _coco(tmp_path):
    images, _ = _folders(tmp_path, n=2)
    coco = {"images": [{"id": 1, "file_name": "a0.png", "width": 32, "height": 24},
                       {"id": 2, "file_name": "a1.png", "width": 32, "height": 24}],
            "categories": [{"id": 1, "name": "bath_towel"}, {"id": 2, "name": "seam"}],
            "annotations": [
                {"id": 10, "image_id": 1, "category_id": 1, "bbox": [4, 4, 16, 8], "iscrowd": 0,
                 "segmentation": [[4, 4, 20, 4, 20, 12, 4, 12]], "area": 128},
                {"id": 11, "image_id": 1, "category_id": 2, "bbox": [4, 4, 16, 2], "iscrowd": 0,
                 "segmentation": [[4, 4, 20, 4, 20, 6, 4, 6]], "area": 32}]}
    return coco, images


def test_coco_is_painted_seam_over_towel(tmp_path):
    coco, images = _coco(tmp_path)
    (tmp_path / "c.json").write_text(json.dumps(coco))
    ingest_coco(tmp_path / "c.json", images, {"bath_towel": "towel", "seam": "seam"}, CLASSES, "mine", tmp_path / "out")
    mask = read_mask(tmp_path / "out/masks/a0.png")
    assert mask[5, 10] == 2 and mask[9, 10] == 1 and mask[20, 25] == 0
    assert read_mask(tmp_path / "out/masks/a1.png").max() == 0
    assert read_json(tmp_path / "out/instances.json")["images"][0]["file_name"] == "images/a0.png"


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["annotations"][0].update(bbox=[20, 4, 16, 8]), "annotation 10: bbox .* outside"),
    (lambda c: c["annotations"][1].update(segmentation=[[4, 4, 40, 4, 40, 6]]), "annotation 11: polygon lies outside"),
    (lambda c: c["images"][1].update(file_name="../../etc/passwd"), "must be a relative path"),
    (lambda c: c["images"][1].update(file_name="missing.png"), "missing.png: image not found"),
    (lambda c: c["images"][1].update(id=1), r"duplicate image ids \[1\]"),
    (lambda c: c["annotations"][1].update(id=10), r"duplicate annotation ids \[10\]"),
    (lambda c: c["annotations"][1].update(image_id=9), "unknown image_id 9"),
    (lambda c: c["annotations"][1].update(category_id=7), "unknown category_id 7"),
    (lambda c: c["images"][0].update(width=30), "differs from the COCO entry"),
    (lambda c: c["categories"].append({"id": 3, "name": "sock"}), r"categories \['sock'\] have no entry"),
])
def test_bad_coco_is_named_and_leaves_nothing(tmp_path, edit, message):
    coco, images = _coco(tmp_path)
    edit(coco)
    (tmp_path / "c.json").write_text(json.dumps(coco))
    with pytest.raises(InputError, match=message):
        ingest_coco(tmp_path / "c.json", images, {"bath_towel": "towel", "seam": "seam"}, CLASSES, "mine", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_render_export_ingest_round_trips(rendered, tmp_path):
    from realitygap.ingest.export import export_coco, export_mask_folders

    dataset, _ = rendered["real"]
    ids = [s["id"] for s in read_json(dataset / "manifest.json")["samples"]]
    class_map = export_mask_folders(dataset, tmp_path / "folders")
    ingest_mask_folders(tmp_path / "folders/images", tmp_path / "folders/masks", class_map, CLASSES, "real", tmp_path / "a")
    coco_map = export_coco(dataset, tmp_path / "coco.json")
    ingest_coco(tmp_path / "coco.json", dataset, coco_map, CLASSES, "real", tmp_path / "b")
    for sid in ids:
        truth = read_mask(dataset / f"masks/{sid}.png")
        assert np.array_equal(read_mask(tmp_path / f"a/masks/{sid}.png"), truth)
        assert np.array_equal(read_mask(tmp_path / f"b/masks/{sid}.png"), truth)
        assert (tmp_path / f"b/images/{sid}.png").read_bytes() == (dataset / f"images/{sid}.png").read_bytes()


def _simulator_files(tmp_path, images, size=(24, 32)):
    """Depth maps and a render-parameter table for the images of `_folders`."""
    (tmp_path / "depth").mkdir()
    for i in range(3):
        np.save(tmp_path / "depth" / f"a{i}.npy", np.full(size, 1.5 + i, np.float32))
    (tmp_path / "params.csv").write_text("image,light,blur\na0.png,0.1,1\na1.png,0.3,2\na2.png,0.5,3\n")
    return {"depth": str(tmp_path / "depth"), "render_params": str(tmp_path / "params.csv"), "factors": ["light", "blur"]}


def test_a_simulators_depth_and_render_parameters_are_ingested(tmp_path):
    from realitygap.data import load_samples
    from realitygap.experiments.groups import image_groups, sample_meta
    from realitygap.io import read_depth

    images, masks = _folders(tmp_path)
    simulator = _simulator_files(tmp_path, images)
    manifest = ingest_mask_folders(images, masks, CLASS_MAP, CLASSES, "mine", tmp_path / "out", simulator=simulator)
    assert manifest["factors"] == {"blur": 2.0, "light": 0.3}           # the domain's look: per-factor means
    samples = {s.id: s for s in load_samples(tmp_path / "out")}
    assert read_depth(samples["a2"].depth, (24, 32)).max() == 3.5
    assert image_groups("mine", sample_meta(samples["a1"]), ["domain", "light", "state"]) == ["domain=mine", "light=0.3"]


@pytest.mark.parametrize("change, message", [
    (lambda p: (p / "depth" / "a1.npy").unlink(), r"depth: no depth map for images \['a1'\]"),
    (lambda p: np.save(p / "depth" / "a1.npy", np.zeros((5, 5))), "a1.npy: depth size 5x5 does not match its image 32x24"),
    (lambda p: (p / "params.csv").write_text("image,light,blur\na0.png,0.1,1\n"), "2 images have no row"),
    (lambda p: (p / "params.csv").write_text("image,light,blur\na0.png,0.1,1\na1.png,0.3,2\na2.png,0.5,3\nzz.png,1,1\n"),
     "row 5: image 'zz' is not among the images"),
    (lambda p: (p / "params.csv").write_text("image,light,fog\na0.png,0.1,1\na1.png,0.3,2\na2.png,0.5,3\n"),
     r"row 2: unknown factors \['fog'\]"),
    (lambda p: (p / "params.csv").write_text("image,light,blur\na0.png,dim,1\na1.png,0.3,2\na2.png,0.5,3\n"),
     "row 2: factor values must be numbers"),
])
def test_bad_simulator_files_are_named_and_nothing_is_written(tmp_path, change, message):
    images, masks = _folders(tmp_path)
    simulator = _simulator_files(tmp_path, images)
    change(tmp_path)
    with pytest.raises(InputError, match=message):
        ingest_mask_folders(images, masks, CLASS_MAP, CLASSES, "mine", tmp_path / "out", simulator=simulator)
    assert not (tmp_path / "out").exists()
