"""The pseudo-label path: tags in, random walk, dense CRF, the ignore label in the loss, contradicted tags."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from realitygap.io import InputError, read_image, read_json, read_mask, write_json, write_png
from realitygap.pseudolabel.affinity import affinity_loss, random_walk, transition_matrix
from realitygap.pseudolabel.crf import dense_crf
from realitygap.tags import contradictions, read_tags, tags_of_mask
from tests.conftest import bench_classes

MODEL = {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 3}


def test_random_walk_matches_a_hand_solved_graph():
    # Three pixels in a row with embeddings 0, 0, ln 2: W01 = 1, W02 = W12 = 1/2, self-loops 1, radius 2.
    # Degrees 2.5, 2.5, 2, so T = [[.4, .4, .2], [.4, .4, .2], [.25, .25, .5]].
    features = torch.tensor([[[0.0, 0.0, math.log(2.0)]]])
    transition = transition_matrix(features, radius=2, beta=1.0)
    expected = np.array([[0.4, 0.4, 0.2], [0.4, 0.4, 0.2], [0.25, 0.25, 0.5]])
    np.testing.assert_allclose(transition.toarray(), expected, atol=1e-12)
    scores = np.array([[[1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0]]])       # K=2 classes, H=1, W=3
    walked = random_walk(transition, scores, steps=2)
    np.testing.assert_allclose(walked[:, 0, :], (expected @ expected @ scores[:, 0, :].T).T, atol=1e-6)
    # beta sharpens: W^2 gives W02 = 1/4, so the third pixel keeps more of itself
    sharp = transition_matrix(features, radius=2, beta=2.0).toarray()
    np.testing.assert_allclose(sharp[2], [0.25 / 1.5, 0.25 / 1.5, 1 / 1.5], atol=1e-12)


def test_random_walk_leaves_uniform_scores_alone_and_conserves_rows():
    torch.manual_seed(0)
    transition = transition_matrix(torch.rand(4, 6, 7), radius=2, beta=4.0)
    np.testing.assert_allclose(np.asarray(transition.sum(1)).ravel(), np.ones(42), atol=1e-12)
    flat = np.full((3, 6, 7), 0.3)
    np.testing.assert_allclose(random_walk(transition, flat, 5), flat, atol=1e-6)


def _band_iou(labels: np.ndarray, truth: np.ndarray, edge: int, width: int) -> float:
    band = slice(edge - width, edge + width)
    pred, true = labels[:, band] == 1, truth[:, band] == 1
    return float((pred & true).sum() / (pred | true).sum())


def test_crf_snaps_a_blurred_prior_to_the_image_edge():
    h, w, edge = 32, 64, 32
    image = np.zeros((h, w, 3), np.uint8)
    image[:, edge:] = 200                                          # a vertical step edge at x = 32
    truth = np.zeros((h, w), np.uint8)
    truth[:, edge:] = 1
    x = np.arange(w)[None, :].repeat(h, 0)
    fg = 1 / (1 + np.exp(-(x - edge - 6) / 4.0))                  # blurred and 6 px off the edge
    prior = np.stack([1 - fg, fg]).astype(np.float32)
    refined = dense_crf(image, prior, iterations=10, gaussian={"sxy": 3, "compat": 3},
                        bilateral={"sxy": 20, "srgb": 10, "compat": 10})
    before = _band_iou(prior.argmax(0), truth, edge, 8)
    after = _band_iou(refined.argmax(0), truth, edge, 8)
    assert before < 0.75 and after > 0.95 > before
    np.testing.assert_allclose(refined.sum(0), 1.0, atol=1e-4)     # marginals


def test_ignore_label_is_ignored_by_the_training_loss():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from realitygap.models import build_model

    net = build_model(MODEL, 16, "weighted_ce")
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 16, 16, requires_grad=True)
    labels = torch.randint(0, 3, (2, 16, 16))
    labels[:, :8] = 255
    samples = [SegDataSample(gt_sem_seg=PixelData(data=lab[None])) for lab in labels]
    loss = net.decode_head.loss_by_feat(logits, samples)["loss_ce"]
    (grad,) = torch.autograd.grad(loss, logits)
    assert grad[:, :, :8].abs().max() == 0 and grad[:, :, 8:].abs().max() > 0
    changed = logits.detach().clone()
    changed[:, :, :8] = 100 * torch.randn_like(changed[:, :, :8])
    assert torch.allclose(net.decode_head.loss_by_feat(changed, samples)["loss_ce"], loss)


@pytest.mark.parametrize("class_weight", [None, [0.5, 1.0, 3.0]])
def test_our_cross_entropy_equals_mmsegs_without_ignored_pixels_and_averages_over_labelled_ones(class_weight):
    from mmseg.models.losses import CrossEntropyLoss

    from realitygap.mmseg_losses import IgnoreAwareCrossEntropyLoss

    torch.manual_seed(1)
    logits, labels = torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8))
    ours, theirs = IgnoreAwareCrossEntropyLoss(class_weight=class_weight), CrossEntropyLoss(class_weight=class_weight)
    assert torch.allclose(ours(logits, labels), theirs(logits, labels), atol=1e-6)
    labels[0] = 255
    weight = None if class_weight is None else torch.tensor(class_weight)
    expected = torch.nn.functional.cross_entropy(logits, labels, weight=weight, ignore_index=255)   # PyTorch's mean
    assert torch.allclose(ours(logits, labels), expected, atol=1e-6)


def test_affinity_loss_pulls_same_labels_together_and_pushes_others_apart():
    labels = torch.tensor([[[1, 1, 0, 0, 255]]])
    same = torch.zeros(1, 2, 1, 5)
    apart = same.clone()
    apart[:, :, :, 2:] = 5.0                                     # the label change gets a large embedding step
    terms = {k: affinity_loss(f, labels, radius=1) for k, f in (("same", same), ("apart", apart))}
    assert terms["same"]["loss_aff_neg"] > 5 > terms["apart"]["loss_aff_neg"]      # -log(1 - W): W=1 vs e^-5
    assert terms["apart"]["loss_aff_fg"] < 1e-3 and terms["apart"]["loss_aff_bg"] < 1e-3


@pytest.mark.parametrize("content, message", [
    ("image,towel,seam,sofa\na.png,1,1,0\n", "unknown class columns ['sofa']"),
    ("image,towel,seam\na.png,1,1\nz.png,1,0\n", "row 3: image 'z.png' is not among the images"),
    ("image,towel,seam\na.png,1,1\na.png,1,0\n", "row 3: image 'a.png' is tagged twice"),
    ("image,towel,seam\na.png,1,2\n", "row 2: tag values must be 0 or 1"),
    ("image,towel,seam\na.png,1,1\n", "1 images have no tags row, e.g. ['b']"),
])
def test_tag_files_are_checked_row_by_row(tmp_path, content, message):
    path = tmp_path / "tags.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        read_tags(path, ["a", "b"] if "no tags row" in message else ["a"], bench_classes())
    assert str(path) in str(err.value)


def test_json_tags_and_ingest_keep_them_beside_the_images(tmp_path):
    from realitygap.ingest import ingest_unlabeled

    images = tmp_path / "photos"
    for name in ("a", "b"):
        write_png(images / f"{name}.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "tags.json").write_text(json.dumps({"a.png": ["seam", "towel"], "b": []}))
    ingest_unlabeled(images, bench_classes(), "photos", tmp_path / "out", tmp_path / "tags.json")
    assert read_json(tmp_path / "out" / "tags.json") == {"a": ["towel", "seam"], "b": []}
    (tmp_path / "bad.json").write_text(json.dumps([{"image": "a", "tags": ["sofa"]}, {"image": "b", "tags": []}]))
    with pytest.raises(InputError, match=r"bad.json, row 0 \(a\): unknown classes \['sofa'\]"):
        ingest_unlabeled(images, bench_classes(), "photos", tmp_path / "out2", tmp_path / "bad.json")
    assert not (tmp_path / "out2").exists()                      # nothing half-written


def test_tags_of_a_mask_count_pixels_and_skip_the_ignore_label():
    mask = np.zeros((10, 10), np.uint8)
    mask[0, :3] = 2
    mask[1:, :] = 255
    assert tags_of_mask(mask, 3, bench_classes()) == ["seam"] and tags_of_mask(mask, 4, bench_classes()) == []


def test_contradictions_flag_both_directions():
    tags = np.array([[1, 1], [1, 0]], np.float32)
    probs = np.array([[0.9, 0.01], [0.5, 0.99]], np.float32)
    found = contradictions(["a", "b"], tags, probs, 0.05, 0.95, bench_classes())
    assert found == [{"image": "a", "class": "seam", "tagged": True, "probability": 0.01},
                     {"image": "b", "class": "seam", "tagged": False, "probability": 0.99}]


def _confident_classifier(folder: Path) -> None:
    """A tag classifier that is sure every image shows a towel and a seam (zero weights, bias +8)."""
    from realitygap.models import save_weights
    from realitygap.pseudolabel.classifier import build_classifier

    net = build_classifier(MODEL, 48)
    with torch.no_grad():
        net.decode_head.conv_seg.weight.zero_()
        net.decode_head.conv_seg.bias.fill_(8.0)
    save_weights(net, folder / "model.pth")


def test_contradicted_tags_are_reported_and_their_images_left_out(rendered, tmp_path):
    from realitygap.params import load
    from realitygap.pseudolabel.stage import IGNORE, run_label

    dataset, split = rendered["real"]
    ids = [e["id"] for e in read_json(split)["train"]]
    manifest = {s["id"]: s for s in read_json(dataset / "manifest.json")["samples"]}
    tags = {i: tags_of_mask(read_mask(dataset / manifest[i]["mask"]), 4, bench_classes()) for i in ids}
    tags[ids[0]] = ["towel"]                                   # says: no seam, where the classifier sees one
    _confident_classifier(tmp_path / "classifier")
    write_json(tmp_path / "classifier" / "tags.json", {"mode": "masks", "tags": tags})
    cfg = load(profile="tiny")["pseudolabel"]
    summary = run_label(str(dataset), str(split), str(tmp_path / "classifier"), MODEL, cfg, 48, 0,
                        tmp_path / "pseudo", tmp_path / "results", "cpu")
    assert summary["contradicted"] == [{"image": ids[0], "class": "seam", "tagged": False, "probability": 0.9997}]
    written = read_json(tmp_path / "pseudo" / "manifest.json")["samples"]
    assert [s["id"] for s in written] == ids[1:]
    assert summary["labelled"] == len(ids) - 1 and summary["images"] == len(ids)
    assert list(summary["steps"]) == ["prior_gradcam", "prior_minmax_cam", "prior_dminmax_gradcam", "saliency", "crf",
                                      "affinity", "final"]
    final = np.stack([read_mask(tmp_path / "pseudo" / s["mask"]) for s in written])
    assert set(np.unique(final)) <= {0, 1, 2, IGNORE}
    assert summary["steps"]["final"]["coverage"] == pytest.approx(100 * (final != IGNORE).mean(), abs=0.01)
    assert read_json(tmp_path / "results" / "steps.json") == json.loads(json.dumps(summary))
    assert (tmp_path / "results" / "examples.png").stat().st_size > 0


def test_unlabeled_photos_with_a_tags_file_are_pseudo_labelled_through_the_cli(rendered, tmp_path):
    """Bring your own data: images + a tags CSV -> ingest -> split -> classifier -> labels (nothing to score)."""
    import shutil

    from realitygap.cli import main
    from realitygap.params import load

    dataset, _ = rendered["real"]
    photos = tmp_path / "photos"
    photos.mkdir()
    rows = ["image,towel,seam"]
    for sample in read_json(dataset / "manifest.json")["samples"]:
        shutil.copy(dataset / sample["image"], photos / f"{sample['id']}.png")
        tags = tags_of_mask(read_mask(dataset / sample["mask"]), 4, bench_classes())
        rows.append(f"{sample['id']}.png,{int('towel' in tags)},{int('seam' in tags)}")
    (tmp_path / "tags.csv").write_text("\n".join(rows) + "\n")
    raw, split = tmp_path / "raw", tmp_path / "split.json"
    cfg = load(profile="tiny")["pseudolabel"] | {"tags": "dataset"}
    sim, sim_split = rendered["sim"]
    commands = [
        ["ingest", "--format", "unlabeled", "--domain", "photos", "--images", str(photos), "--tags",
         str(tmp_path / "tags.csv"), "--classes", json.dumps(bench_classes().to_json()), "--out", str(raw)],
        ["split", "--dataset", str(raw), "--params", json.dumps({"fractions": {"train": 0.6, "val": 0.1, "test": 0.3}}),
         "--out", str(split)],
        ["pseudolabel", "classifier", "--dataset", str(raw), "--split", str(split), "--sources",
         json.dumps([{"dataset": str(sim), "split": str(sim_split), "fraction": 1.0}]), "--model", json.dumps(MODEL),
         "--params", json.dumps(cfg), "--size", "48", "--device", "cpu", "--out", str(tmp_path / "classifier")],
        ["pseudolabel", "label", "--dataset", str(raw), "--split", str(split), "--classifier",
         str(tmp_path / "classifier"), "--model", json.dumps(MODEL), "--params", json.dumps(cfg), "--size", "48",
         "--device", "cpu", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "pseudo")]]
    for args in commands:
        assert main(["--timings", str(tmp_path / "timings"), *args]) == 0, args
    steps = read_json(tmp_path / "results" / "steps.json")
    assert steps["tags"] == "dataset" and steps["images"] == len(read_json(split)["train"])
    assert all(s["mIoU_vs_truth"] is None for s in steps["steps"].values())      # no pixel labels to score
    assert read_json(tmp_path / "classifier" / "train.json")["tagged"] == steps["images"]
    assert len(read_json(tmp_path / "pseudo" / "manifest.json")["samples"]) == steps["labelled"]


def test_without_tags_the_sim_models_predictions_tag_the_images(rendered, small_model, tmp_path):
    from realitygap.models import save_weights
    from realitygap.pseudolabel.stage import net_labels, target_entries, target_tags

    dataset, split = rendered["real"]
    save_weights(small_model, tmp_path / "sim.pth")
    entries = target_entries(dataset, split)
    witness = {"weights": tmp_path / "sim.pth", "model": MODEL, "size": 48, "device": "cpu"}
    tags = target_tags(entries, dataset, "predicted", 4, bench_classes(), witness)
    images = torch.from_numpy(np.stack([read_image(e["image"]) for e in entries]))
    expected = [tags_of_mask(label, 4, bench_classes()) for label in net_labels(small_model, images)]
    assert [tags[e["id"]] for e in entries] == expected
    with pytest.raises(ValueError, match="need the sim-trained model"):
        target_tags(entries, dataset, "predicted", 4, bench_classes())
