"""Counterfactuals of Mask R-CNN: the detector's losses toward a target against mmdet's own, the generator
moving the detector toward the target, the explain method, and the instance augmentation (plan, the
16-factor baseline with masks following, counterfactual images whose labels follow the target)."""

import json

import numpy as np
import pytest
import torch

from realitygap.coco import annotation_mask, mask_annotation
from realitygap.counterfactual.instances import (detector_objective, found, frozen_detector, instance_task,
                                                 judge_instances, mask_goal, object_probabilities, region_boxes,
                                                 roi_targets)
from realitygap.counterfactual.training import make_maps, train_generator
from realitygap.detection_losses import classification_loss
from realitygap.detectors import class_probabilities
from realitygap.explain import INSTANCE_METHODS, InstanceTarget
from realitygap.io import write_json
from realitygap.models import normalise
from tests.conftest import bench_classes

CATEGORIES = ["bath_towel", "beach_towel", "hand_towel", "tea_towel", "washcloth"]


def detector(loss: str = "ce"):
    from realitygap.detection import build_detector

    torch.manual_seed(0)
    return build_detector({"depth": 18}, len(CATEGORIES), loss_cls=classification_loss(loss, [50, 2, 30, 10, 5]))


def blobs(count: int = 2, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images and one rectangular object per image (masks (count, size, size))."""
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8))
    masks = torch.zeros(count, size, size, dtype=torch.bool)
    masks[0, 8:40, 10:50] = True
    masks[1:, 20:60, 4:30] = True
    return images, masks


def test_region_boxes_equal_pycocotools_boxes():
    rng = np.random.default_rng(1)
    masks = rng.random((6, 40, 50)) > 0.97
    masks[0] = False
    masks[0, 3:9, 17:30] = True
    expected = [[x, y, x + w, y + h] for x, y, w, h in (mask_annotation(m)["bbox"] for m in masks)]
    np.testing.assert_allclose(region_boxes(torch.from_numpy(masks)).numpy(), expected)


def test_mask_goal_equals_mmdets_mask_targets():
    """Our RoI mask target equals mmdet's BitmapMasks.crop_and_resize (what its mask head trains toward)."""
    from mmdet.structures.mask import BitmapMasks

    _, masks = blobs(3)
    rois = torch.tensor([[0, 6.0, 5.0, 52.0, 44.0], [1, 0.0, 18.0, 33.0, 63.0], [2, 10.0, 10.0, 20.0, 30.0]])
    ours = mask_goal(masks, rois, (28, 28))
    theirs = BitmapMasks(masks.numpy().astype(np.uint8), 64, 64).crop_and_resize(
        rois[:, 1:].numpy(), (28, 28), np.arange(3), device="cpu", interpolation="bilinear", binarize=True)
    agree = (ours.numpy() == theirs.to_ndarray()).mean()
    assert agree > 0.995, agree


def test_cls_and_box_terms_equal_mmdets_losses():
    """With the box head's cross-entropy, the `cls` term is mmdet's CrossEntropyLoss of the RoI toward the
    target and the `box` term its L1Loss toward the encoded object box."""
    net = detector("ce")
    images, masks = blobs()
    x = normalise(net, images)
    task = instance_task(torch.arange(2), masks, torch.tensor([0, 2]), torch.tensor([3, 1]))
    model = frozen_detector(net, ["cls"])
    with torch.no_grad():
        feats, _ = model(x)
        rois, labels, boxes = roi_targets(task.target, task.region)
        out = net.roi_head._bbox_forward(feats, rois)
        head = net.roi_head.bbox_head
        expected_cls = head.loss_cls(out["cls_score"], labels)
        deltas = out["bbox_pred"].view(2, -1, 4)[torch.arange(2), labels]
        expected_box = head.loss_bbox(deltas, head.bbox_coder.encode(rois[:, 1:], boxes))
        ours_cls = detector_objective(net, ["cls"])(feats, task.target, task.region)
        ours_box = detector_objective(net, ["box"])(feats, task.target, task.region)
    torch.testing.assert_close(ours_cls, expected_cls)
    torch.testing.assert_close(ours_box, expected_box)
    assert labels.tolist() == [3, 1] and torch.equal(task.original.flatten(1).amax(1), torch.tensor([1, 3]))
    with pytest.raises(ValueError, match="terms"):
        detector_objective(net, ["score"])


def test_an_object_is_called_by_its_best_detection_on_the_box():
    box = torch.tensor([10.0, 10.0, 30.0, 30.0])
    detections = {"boxes": torch.tensor([[10.0, 11, 30, 30], [11.0, 10, 30, 31], [50.0, 50, 60, 60]]),
                  "scores": torch.tensor([0.08, 0.9, 0.95]), "labels": torch.tensor([3, 1, 3])}
    assert found(detections, 1, box, 0.5) and not found(detections, 3, box, 0.5)   # 3 only scores low there
    assert not found(detections, 1, torch.tensor([0.0, 0, 5, 5]), 0.5)
    assert not found({"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0)}, 1, box, 0.5)


def test_class_probabilities_use_the_heads_activation():
    """Seesaw's box head scores C + 2 channels (classes and objectness); its probabilities are C + 1 summing to 1."""
    seesaw = detector("seesaw")
    raw = torch.randn(4, seesaw.roi_head.bbox_head.fc_cls.out_features)
    probs = class_probabilities(seesaw, raw)
    assert raw.shape[1] == len(CATEGORIES) + 2 and probs.shape == (4, len(CATEGORIES) + 1)
    torch.testing.assert_close(probs.sum(1), torch.ones(4))
    ce = detector("ce")
    raw = torch.randn(4, len(CATEGORIES) + 1)
    torch.testing.assert_close(class_probabilities(ce, raw), raw.softmax(-1))


def test_generator_moves_the_detector_toward_the_target_and_a_zero_map_never_flips():
    net = detector("ce")
    images, masks = blobs()
    x = normalise(net, images)
    task = instance_task(torch.arange(2), masks, torch.tensor([0, 2]), torch.tensor([3, 1]))
    model = frozen_detector(net, ["cls", "mask"])
    before = {k: v.clone() for k, v in net.state_dict().items()}
    gen = train_generator(model, x, task, x, len(CATEGORIES) + 1,
                          {"iters": 30, "batch_size": 2, "weights": {"adversarial": 0.0}}, seed=0)
    change = make_maps(model, gen, x, task)
    verdict = judge_instances(model, x, task, change)
    assert (verdict["p_after"] > verdict["p_before"]).all(), verdict
    zero = judge_instances(model, x, task, torch.zeros_like(change))
    assert not zero["flipped"].any() and torch.equal(zero["found_after"], zero["found_before"])
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())       # the detector never changes
    probs = object_probabilities(net, x, torch.arange(2), region_boxes(masks))
    torch.testing.assert_close(probs[torch.arange(2), torch.tensor([3, 1])], verdict["p_before"])


def test_instance_counterfactual_method_keeps_rows_and_images():
    net = detector("seesaw")
    images, masks = blobs()
    targets = [InstanceTarget(0, 0, region_boxes(masks[:1])[0], masks[0]), InstanceTarget(1, 4, torch.tensor([4.0, 20, 30, 60]))]
    explainer = INSTANCE_METHODS["instance_counterfactual"](net, iters=3, direction="relabel", batch_size=2)
    maps = explainer.explain(images, targets)
    assert maps.shape == (2, 64, 64) and 0 <= maps.min() and maps.max() <= 1
    rows = explainer.extras["rows"]
    assert [r["direction"] for r in rows] == ["relabel", "relabel"] and [r["label"] for r in rows] == [0, 4]
    assert all(r["target"] != r["label"] for r in rows) and all(0 <= r["p_after"] <= 1 for r in rows)
    assert explainer.extras["counterfactual"].shape == (2, 64, 64, 3)
    found = INSTANCE_METHODS["instance_counterfactual"](net, iters=0, direction="find").explain(images, targets)
    assert found.shape == (2, 64, 64)
    with pytest.raises(ValueError, match="direction"):
        INSTANCE_METHODS["instance_counterfactual"](net, direction="sideways").explain(images, targets)


def samples_with(categories_per_image: list[list[str]]) -> list[dict]:
    return [{"path": f"/data/images/{i:03d}.png", "annotations": [{"category": c, "area": 10.0 + k}
                                                                   for k, c in enumerate(cats)]}
            for i, cats in enumerate(categories_per_image)]


def test_plan_raises_every_category_to_the_minimum_from_donors_without_it():
    from realitygap.detection.augment import augmentation_plan, image_counts

    samples = samples_with([["bath_towel", "hand_towel"]] * 6 + [["bath_towel"]] * 3 + [["washcloth"]] + [[]])
    plan = augmentation_plan(samples, CATEGORIES, 5, seed=0)
    added = {c: sum(r["target"] == c for r in plan) for c in CATEGORIES}
    counts = image_counts(samples, CATEGORIES)
    assert added == {c: max(0, 5 - counts[c]) for c in CATEGORIES}
    for row in plan:
        cats = [a["category"] for a in samples[row["sample"]]["annotations"]]
        assert row["target"] not in cats and cats                           # images without the target
        assert cats[row["annotation"]] == max(cats, key=lambda c: (counts[c], cats.index(c)))  # the most frequent
    beach = [r for r in plan if r["target"] == "beach_towel"]
    assert len({r["sample"] for r in beach}) == 5 and {r["copy"] for r in beach} == {0}
    assert augmentation_plan(samples, CATEGORIES, 5, seed=0) == plan
    assert augmentation_plan(samples, CATEGORIES, 5, seed=1) != plan
    many = augmentation_plan(samples, CATEGORIES, 14, seed=0)                  # more than the donors: cycles
    assert {r["copy"] for r in many if r["target"] == "beach_towel"} == {0, 1}
    own = augmentation_plan(samples, CATEGORIES, 5, seed=0, relabel=False)      # the baseline's: the target's images
    assert {c: sum(r["target"] == c for r in own) for c in CATEGORIES} == {**added, "beach_towel": 0, "tea_towel": 0}
    assert all(samples[r["sample"]]["annotations"][r["annotation"]]["category"] == r["target"] for r in own)
    assert [r["copy"] for r in own if r["target"] == "washcloth"] == [0, 1, 2, 3]   # one image, four copies


def test_baseline_moves_instance_masks_with_the_image(rendered):
    from realitygap.detection.augment import augmentation_plan, baseline_entries
    from realitygap.detection.data import instance_samples

    sim = rendered["sim"]
    samples = instance_samples([{"dataset": str(sim[0]), "split": str(sim[1])}], 0)
    plan = augmentation_plan(samples, CATEGORIES, 6, seed=0, relabel=False)[:3]
    entries, _ = baseline_entries(samples, plan, {"ops": 1, "factors": ["flip"]}, 0, bench_classes())
    for row, entry in zip(plan, entries):
        s = samples[row["sample"]]
        for before, after in zip(s["annotations"], entry["annotations"]):
            assert after["category"] == before["category"]
            np.testing.assert_array_equal(annotation_mask(after, 48, 48), np.fliplr(annotation_mask(before, 48, 48)))
        assert entry["image"].shape == (48, 48, 3) and entry["mask"].shape == (48, 48)


def test_instances_augment_writes_datasets_the_track_trains_on(rendered, tmp_path, capsys):
    """Both policies through the CLI: the counterfactual against a saved (untrained) Mask R-CNN; every category
    reaches the minimum count, labels follow the target, and mmdet's dataset class reads the result."""
    from realitygap.cli import main
    from realitygap.detection.data import RealityGapInstances, instance_samples

    weights = tmp_path / "sim" / "model.pth"
    weights.parent.mkdir()
    torch.save(detector("seesaw").state_dict(), weights)
    write_json(weights.with_name("train.json"), {"loss_cls": classification_loss("seesaw", [50, 2, 30, 10, 5])})
    sim, real = rendered["sim"], rendered["real"]
    sources = [{"dataset": str(sim[0]), "split": str(sim[1]), "fraction": 1.0}]
    common = ["--timings", str(tmp_path / "t"), "instances", "augment", "--sources", json.dumps(sources),
              "--categories", json.dumps(CATEGORIES), "--min-count", "6", "--seed", "0"]
    assert main([*common, "--policy", "baseline", "--params", json.dumps({"type": "baseline"}),
                 "--out", str(tmp_path / "baseline")]) == 0
    model = json.dumps({"weights": str(weights), "model": {"depth": 18}, "device": "cpu"})
    assert main([*common, "--policy", "counterfactual", "--params", json.dumps({"type": "counterfactual", "iters": 2}),
                 "--source-model", model, "--references", json.dumps([{"dataset": str(real[0]), "split": str(real[1])}]),
                 "--out", str(tmp_path / "counterfactual")]) == 0
    source = instance_samples(sources, 0)
    made = {}
    for policy in ("baseline", "counterfactual"):
        manifest = json.loads((tmp_path / policy / "manifest.json").read_text())
        summary = manifest["summary"]
        shown = [c for c, n in summary["image_counts_before"].items() if n > 0]
        assert summary["unreached"] == ([] if policy == "counterfactual" else [c for c in CATEGORIES if c not in shown])
        assert all(summary["image_counts_after"][c] >= 6 for c in CATEGORIES if c not in summary["unreached"])
        new = instance_samples([{"dataset": str(tmp_path / policy), "split": None}], 0, split="train")
        assert len(new) == summary["images"] > 0 and all(e["id"] != e["scene"] for e in manifest["samples"])
        made[policy] = new
        dataset = RealityGapInstances(samples=source + new, categories=CATEGORIES, pipeline=[])
        assert len(dataset) == len(source) + len(new)
    summary = json.loads((tmp_path / "counterfactual" / "manifest.json").read_text())["summary"]
    assert 0 <= summary["flip_rate"] <= 1 and summary["counterfactuals"] >= 1
    by_name = {s["path"].split("/")[-1]: s for s in source}
    for s in made["counterfactual"]:                       # the donor takes the target category; nothing else changes
        stem = s["path"].split("/")[-1]
        origin = by_name[stem.split("_to_")[0] + ".png"]
        target = stem.split("_to_")[1].rsplit("_", 1)[0]
        changed = [(a["category"], b["category"]) for a, b in zip(origin["annotations"], s["annotations"])
                   if a["category"] != b["category"]]
        assert len(changed) == 1 and changed[0][1] == target
    assert main([*common, "--policy", "counterfactual", "--params", json.dumps({"type": "counterfactual"}),
                 "--out", str(tmp_path / "nothing")]) == 2
    assert "needs the source model" in capsys.readouterr().err and not (tmp_path / "nothing").exists()
