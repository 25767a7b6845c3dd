"""The instance track: annotations in, Mask R-CNN trained, detections as COCO results, scores against
pycocotools (known answers and its own per-category evaluation), and the params checks."""

import json

import numpy as np
import pytest

from realitygap.coco import mask_annotation
from realitygap.io import InputError, write_json
from realitygap.detection.score import category_groups, score_instances

CATEGORIES = ["bath_towel", "beach_towel", "hand_towel", "tea_towel", "washcloth"]


def rect_mask(box, size=32):
    mask = np.zeros((size, size), bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask


def coco_file(tmp_path, images, categories):
    """A COCO file of `images` ({id: [(category id, box)]}) with `categories` ({id: (name, frequency)})."""
    objects = [(image, cat, box) for image, found in images.items() for cat, box in found]
    annotations = [dict(mask_annotation(rect_mask(box)), id=k, image_id=image, category_id=cat)
                   for k, (image, cat, box) in enumerate(objects, start=1)]
    coco = {"images": [{"id": i, "file_name": f"images/{i}.png", "width": 32, "height": 32} for i in images],
            "annotations": annotations,
            "categories": [{"id": c, "name": name, "frequency": f} for c, (name, f) in categories.items()]}
    write_json(tmp_path / "instances.json", coco)
    return tmp_path / "instances.json", coco


def detection(image, cat, box, score):
    ann = mask_annotation(rect_mask(box))
    return {"image_id": image, "category_id": cat, "score": score, "bbox": ann["bbox"], "segmentation": ann["segmentation"]}


def test_known_answer_one_category_found_one_missed(tmp_path):
    """Category 1 (rare) detected exactly, category 2 (frequent) detected off target: AP 50, AP_r 100, AP_f 0."""
    gt, _ = coco_file(tmp_path, {1: [(1, (2, 2, 14, 14))], 2: [(2, (10, 10, 30, 30))]},
                      {1: ("washcloth", "r"), 2: ("bath_towel", "f")})
    found = [detection(1, 1, (2, 2, 14, 14), 0.9), detection(2, 2, (0, 0, 9, 9), 0.8)]
    scores = score_instances(gt, {"image_ids": [1, 2], "detections": found})
    for kind in ("segm", "bbox"):
        assert scores[f"{kind}_AP"] == pytest.approx(50.0) and scores[f"{kind}_AP50"] == pytest.approx(50.0)
    assert scores["AP_r"] == pytest.approx(100.0) and scores["AP_f"] == pytest.approx(0.0)
    assert scores["AP_c"] is None                                  # no common category in the test images
    assert scores["AP_per_category"] == {"washcloth": 100.0, "bath_towel": 0.0}


def test_no_detections_score_zero_and_only_the_listed_images_count(tmp_path):
    gt, _ = coco_file(tmp_path, {1: [(1, (2, 2, 14, 14))], 2: [(2, (10, 10, 30, 30))]},
                      {1: ("washcloth", "r"), 2: ("bath_towel", "f")})
    empty = score_instances(gt, {"image_ids": [1, 2], "detections": []})
    assert empty["segm_AP"] == 0.0 and empty["AP_r"] == 0.0 and empty["AP_f"] == 0.0
    only_first = score_instances(gt, {"image_ids": [1], "detections": [detection(1, 1, (2, 2, 14, 14), 0.9)]})
    assert only_first["segm_AP"] == pytest.approx(100.0) and only_first["AP_f"] is None


def test_frequency_group_ap_equals_pycocotools_on_the_group_alone(tmp_path):
    """AP_r / AP_c / AP_f against pycocotools' own COCOeval restricted to the group's categories, on a
    random case with misses, duplicates, wrong classes and partial overlaps."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(0)
    categories = {1: ("a", "r"), 2: ("b", "c"), 3: ("c", "c"), 4: ("d", "f")}
    images, found = {}, []
    for image in range(1, 13):
        objects = []
        for _ in range(rng.integers(1, 4)):
            x0, y0 = rng.integers(0, 18, 2)
            box = (int(x0), int(y0), int(x0 + rng.integers(6, 14)), int(y0 + rng.integers(6, 14)))
            cat = int(rng.choice([1, 2, 3, 4], p=[0.1, 0.2, 0.3, 0.4]))
            objects.append((cat, box))
            if rng.random() < 0.8:                                       # found, shifted a little, maybe mislabelled
                dx, dy = rng.integers(-3, 4, 2)
                moved = (max(0, box[0] + dx), max(0, box[1] + dy), min(32, box[2] + dx), min(32, box[3] + dy))
                label = cat if rng.random() < 0.8 else int(rng.integers(1, 5))
                found.append(detection(image, label, moved, float(rng.random())))
        images[image] = objects
    gt, coco = coco_file(tmp_path, images, categories)
    scores = score_instances(gt, {"image_ids": list(images), "detections": found})

    with contextlib.redirect_stdout(io.StringIO()):
        reference = COCO(str(gt))
        for group, key in (("r", "AP_r"), ("c", "AP_c"), ("f", "AP_f")):
            evaluation = COCOeval(reference, reference.loadRes(found), "segm")
            evaluation.params.catIds = [c for c, (_, f) in categories.items() if f == group]
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
            assert scores[key] == pytest.approx(evaluation.stats[0] * 100, abs=1e-3), key
    assert 0 < scores["segm_AP"] < 100


def test_groups_fall_back_to_image_counts():
    coco = {"categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b", "image_count": 500}],
            "annotations": [{"image_id": i, "category_id": 1} for i in range(12)]}
    assert category_groups(coco) == {1: "c", 2: "f"}


def test_instance_samples_and_their_errors(rendered, tmp_path):
    from realitygap.detection.data import category_labels, instance_samples

    dataset, split = rendered["sim"]
    samples = instance_samples([{"dataset": str(dataset), "split": str(split)}], 0)
    assert samples and all(s["annotations"] for s in samples)
    assert {a["category"] for s in samples for a in s["annotations"]} <= set(CATEGORIES)
    with pytest.raises(InputError, match="not in instance.categories"):
        category_labels(["bath_towel"], samples[0]["annotations"] + [{"category": "rug"}], "img.png")
    with pytest.raises(InputError, match="no instances.json"):
        instance_samples([{"dataset": str(tmp_path), "split": None}], 0)


def test_coco_results_skip_categories_the_dataset_lacks():
    import torch

    from realitygap.detection.predict import coco_results

    masks = torch.zeros(2, 32, 32, dtype=torch.bool)
    masks[0, 4:10, 2:8] = True
    masks[1, 0:5, 0:5] = True
    detections = {"boxes": torch.tensor([[2.0, 4.0, 8.0, 10.0], [0.0, 0.0, 5.0, 5.0]]),
                  "scores": torch.tensor([0.9, 0.5]), "labels": torch.tensor([0, 1]), "masks": masks}
    out = coco_results(detections, 7, [3, None])
    assert len(out) == 1 and out[0]["category_id"] == 3 and out[0]["image_id"] == 7
    assert out[0]["bbox"] == [2.0, 4.0, 6.0, 6.0]


def test_train_predict_score_through_the_cli(rendered, tmp_path):
    """Mask R-CNN trained a few iterations on the rendered fixture, then predicted and scored like the workflow."""
    import torch

    from realitygap.cli import main

    sim, real = rendered["sim"], rendered["real"]
    sources = [{"dataset": str(sim[0]), "split": str(sim[1]), "fraction": 1.0}]
    train = {"iters": 2, "batch_size": 2, "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0001, "warmup_iters": 1,
             "milestones": [0.5], "checkpoint_interval": 1}
    model, out = {"depth": 18}, tmp_path / "model"
    train_args = ["--timings", str(tmp_path / "t"), "instances", "train", "--sources", json.dumps(sources),
                  "--model", json.dumps(model), "--loss", "seesaw", "--params", json.dumps(train),
                  "--categories", json.dumps(CATEGORIES), "--mix", "sim", "--device", "cpu", "--out", str(out)]
    assert main(train_args) == 0
    first = torch.load(out / "model.pth", weights_only=True)
    assert not list((out / "work_dir").glob("*.pth"))              # a finished run keeps no checkpoint
    assert main(train_args) == 0                                   # the same run again trains afresh, deterministically
    assert "resumed epoch" not in sorted((out / "work_dir").glob("*/*.log"))[-1].read_text()
    again = torch.load(out / "model.pth", weights_only=True)
    assert all(torch.equal(first[k], again[k]) for k in first)
    summary = json.loads((out / "train.json").read_text())
    assert summary["loss_cls"]["type"] == "SeesawLoss" and sum(summary["instances_per_category"].values()) > 0
    datasets = {d: [str(p[0]), str(p[1])] for d, p in rendered.items()}
    assert main(["--timings", str(tmp_path / "t"), "instances", "predict", "--weights", str(out / "model.pth"),
                 "--model", json.dumps(model), "--categories", json.dumps(CATEGORIES), "--datasets",
                 json.dumps(datasets), "--device", "cpu", "--out", str(tmp_path / "pred")]) == 0
    assert main(["--timings", str(tmp_path / "t"), "instances", "score", "--predictions", str(tmp_path / "pred"),
                 "--datasets", json.dumps({d: p[0] for d, p in datasets.items()}), "--out",
                 str(tmp_path / "scores.json")]) == 0
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert set(scores) == {"sim", "real"}
    for domain, s in scores.items():
        assert s["images"] == len(json.loads(rendered[domain][1].read_text())["test"])
        assert 0 <= s["segm_AP"] <= 100 and set(s["frequency"].values()) <= {"r", "c", "f"}


def test_params_refuse_unknown_mixes_domains_and_categories():
    from realitygap.params import instance_problems

    cfg = {"train": {"mixes": {"sim": {"sim": 1.0}}}, "render": {"domains": {"sim": {}}, "scene": {}},
           "ingest": {"photos": {"format": "masks"}},
           "instance": {"model": {"depth": 18}, "mixes": ["sim", "nope"], "longtail": {"mixes": ["other"], "losses": ["ce"]},
                        "test_domains": ["sim", "photos"], "categories": ["bath_towel"],
                        "explain": {"mixes": ["real"], "domain": "lab"},
                        "augment": {"source_mix": "real", "reference_domain": "moon", "min_count": 5,
                                    "policies": {"baseline": {"type": "baseline"}}}}}
    problems = "\n".join(instance_problems(cfg["instance"], cfg))
    assert "instance/mixes: 'nope'" in problems and "instance/longtail/mixes: 'other'" in problems
    assert "'photos' is neither rendered nor ingested from COCO" in problems
    assert "misses the rendered categories" in problems and "washcloth" in problems
    assert "instance/explain/mixes: 'real'" in problems and "instance/explain/domain: 'lab'" in problems
    assert "instance/augment/source_mix: 'real'" in problems and "reference_domain: unknown domain 'moon'" in problems


def test_detect_equals_mmdets_own_inference(rendered):
    """`detect` on images read as HWC (so permuted, channels-last in memory) gives the detections of mmdet's
    own test pipeline (LoadImageFromFile, data preprocessor, test_step). Before the fix it did not: mmcv's
    CPU RoIAlign read channels-last feature maps as NCHW and a trained model found nothing."""
    import torch
    from mmengine.dataset import pseudo_collate

    from realitygap.detection.data import RealityGapInstances, instance_samples
    from realitygap.detectors import build_detector, detect
    from realitygap.io import read_image
    from realitygap.models import normalise

    torch.manual_seed(0)
    net = build_detector({"depth": 18}, len(CATEGORIES))
    dataset, split = rendered["real"]
    samples = instance_samples([{"dataset": str(dataset), "split": str(split)}], 0, "test")[:2]
    pipeline = [dict(type="LoadImageFromFile"), dict(type="Resize", scale=(48, 48), keep_ratio=True),
                dict(type="PackDetInputs")]
    batch = pseudo_collate([RealityGapInstances(samples, CATEGORIES, pipeline=pipeline)[i] for i in range(2)])
    with torch.no_grad():
        theirs = net.test_step(batch)
    images = torch.from_numpy(np.stack([read_image(s["path"]) for s in samples]))
    ours = detect(net, normalise(net, images))
    for mine, reference in zip(ours, theirs):
        assert len(mine["scores"]) > 0
        torch.testing.assert_close(mine["boxes"], reference.pred_instances.bboxes)
        torch.testing.assert_close(mine["scores"], reference.pred_instances.scores)
        assert torch.equal(mine["masks"], reference.pred_instances.masks)
