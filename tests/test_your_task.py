"""A task our renderer did not make: four classes under other names, non-square images from a small
independent generator, through the stages' commands (ingest, split, train, predict, score, explain)."""

import json

import numpy as np
import pytest

from realitygap.cli import main
from realitygap.io import read_json, write_png

CLASSES = {"names": ["floor", "sock", "heel", "toe"], "palette": [[0, 0, 0], [200, 200, 200], [0, 0, 255], [255, 0, 0]],
           "ignore_index": 255}
MODEL = {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 4}
TRAIN = {"iters": 4, "batch_size": 2, "lr": 0.003, "weight_decay": 0.0001, "checkpoint_interval": 4, "loss": "ce"}


def socks(folder, count: int, seed: int, shape=(48, 64)) -> None:
    """Images of a sock on a floor: a grey band, a blue heel disc and a red toe cap; masks in the values
    10 (floor), 20 (sock), 30 (heel), 40 (toe) that the class map turns into labels."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    for i in range(count):
        y0, x0 = rng.integers(8, h - 16), rng.integers(4, w // 3)
        x1 = rng.integers(w // 2, w - 4)
        mask = np.full(shape, 10, np.uint8)
        mask[y0:y0 + 10, x0:x1] = 20
        mask[(yy - y0 - 5) ** 2 + (xx - x0 - 4) ** 2 < 16] = 30
        mask[y0:y0 + 10, x1 - 5:x1] = 40
        colours = {10: (60, 50, 40), 20: (190, 190, 190), 30: (30, 30, 220), 40: (220, 30, 30)}
        image = np.zeros((*shape, 3), np.uint8)
        for value, colour in colours.items():
            image[mask == value] = colour
        image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
        write_png(folder / "images" / f"sock{i:03d}.png", image)
        write_png(folder / "masks" / f"sock{i:03d}.png", mask)


@pytest.fixture(scope="module")
def sock_task(tmp_path_factory):
    root = tmp_path_factory.mktemp("socks")
    socks(root / "photos", 20, 0)
    class_map = {"10": "floor", "20": "sock", "30": "heel", "40": "toe"}
    assert main(["ingest", "--format", "masks", "--domain", "photos", "--images", str(root / "photos/images"),
                 "--masks", str(root / "photos/masks"), "--class-map", json.dumps(class_map),
                 "--classes", json.dumps(CLASSES), "--out", str(root / "raw")]) == 0
    assert main(["split", "--dataset", str(root / "raw"), "--params",
                 json.dumps({"fractions": {"train": 0.6, "val": 0.1, "test": 0.3}}), "--out", str(root / "split.json")]) == 0
    sources = [{"dataset": str(root / "raw"), "split": str(root / "split.json"), "fraction": 1.0}]
    assert main(["train", "--sources", json.dumps(sources), "--model", json.dumps(MODEL), "--params", json.dumps(TRAIN),
                 "--size", "64", "--mix", "photos", "--device", "cpu", "--out", str(root / "model")]) == 0
    return root


def test_four_classes_under_other_names_flow_through_train_predict_and_score(sock_task):
    root = sock_task
    manifest = read_json(root / "raw/manifest.json")
    assert manifest["classes"]["names"] == CLASSES["names"]
    assert read_json(root / "model/train.json")["classes"] == CLASSES["names"]
    model = ["--weights", str(root / "model/model.pth"), "--model", json.dumps(MODEL), "--size", "64", "--device", "cpu"]
    assert main(["predict", *model, "--dataset", str(root / "raw"), "--split", str(root / "split.json"),
                 "--out", str(root / "pred.npz")]) == 0
    with np.load(root / "pred.npz") as data:
        assert data["pred"].shape[1:] == (48, 64) and list(data["classes"]) == CLASSES["names"]
    assert main(["score", "segmentation", str(root / "pred.npz"), "--out", str(root / "scores.json")]) == 0
    scores = read_json(root / "scores.json")
    assert list(scores["IoU"]) == CLASSES["names"] and 0 <= scores["mIoU"] <= 100


def test_explanations_of_the_users_classes_are_scored(sock_task):
    root = sock_task
    model = ["--weights", str(root / "model/model.pth"), "--model", json.dumps(MODEL), "--size", "64", "--device", "cpu"]
    cfg = {"target_layer": "decode_head.conv_seg:input", "target_classes": ["toe", "heel"], "region": "truth",
           "num_images": 3}
    assert main(["explain", *model, "--method", "gradcam", "--params", json.dumps(cfg), "--datasets",
                 json.dumps({"photos": [str(root / "raw"), str(root / "split.json")]}), "--out", str(root / "xai")]) == 0
    meta = read_json(root / "xai/meta.json")
    assert meta["classes"] == ["toe", "heel"] and meta["class_set"]["names"] == CLASSES["names"]
    assert (root / "xai/overlays/photos" / f"{meta['ids'][0]}_toe.png").is_file()
    assert main(["score", "explanations", str(root / "xai"), *model, "--datasets",
                 json.dumps({"photos": str(root / "raw")}), "--params", json.dumps({"deletion_steps": 2, "sanity_images": 1}),
                 "--out", str(root / "xai_scores.json")]) == 0
    localisation = read_json(root / "xai_scores.json")["localisation"]
    assert set(localisation) == {"toe", "heel"} and set(localisation["toe"]["share_on"]) == set(CLASSES["names"])


def test_a_model_with_another_class_count_or_an_unknown_class_is_refused(sock_task, tmp_path, capsys):
    root = sock_task
    sources = [{"dataset": str(root / "raw"), "split": str(root / "split.json"), "fraction": 1.0}]
    three = dict(MODEL, num_classes=3)
    assert main(["train", "--sources", json.dumps(sources), "--model", json.dumps(three), "--params", json.dumps(TRAIN),
                 "--size", "64", "--device", "cpu", "--out", str(tmp_path / "m")]) == 2
    assert "3 outputs, the data has 4 classes ['floor', 'sock', 'heel', 'toe']" in capsys.readouterr().err
    assert not (tmp_path / "m" / "model.pth").exists()
    assert main(["ingest", "--format", "masks", "--domain", "photos", "--images", str(root / "photos/images"),
                 "--masks", str(root / "photos/masks"), "--class-map", json.dumps({"10": "floor", "20": "cuff"}),
                 "--classes", json.dumps(CLASSES), "--out", str(tmp_path / "raw")]) == 2
    assert "unknown class 'cuff'" in capsys.readouterr().err and not (tmp_path / "raw").exists()


def test_xai_guided_re_renders_the_diagnosed_factors_through_the_users_renderer(sock_task, tmp_path):
    """An ingested source has no scene to re-render: the policy asks the user's renderer plugin for new images
    with the diagnosed factors drawn, and erases what the source model looks at off the target on those images."""
    import sys
    from pathlib import Path

    from realitygap.data import load_samples
    from realitygap.io import read_image, read_mask

    root = sock_task
    plugin = Path(__file__).with_name("byo_task.py")
    renderer = {"renderer": {"type": "command", "command": f"{sys.executable} {plugin} {{params}} {{out}} {{seed}}"},
                "render": {"size": 40, "classes": CLASSES, "base": {"noise": 2.0, "toe_contrast": 1.0}}}
    (tmp_path / "diagnosis.json").write_text(json.dumps({"class": "toe", "ranked_causes": ["toe_contrast", "noise"]}))
    policy = {"x": {"type": "xai_guided", "top_causes": 2, "ranges": {"noise": [4.0, 12.0], "toe_contrast": [0.2, 0.5]},
                    "erase_probability": 1.0, "threshold": 0.0}}
    sources = [{"dataset": str(root / "raw"), "split": str(root / "split.json"), "fraction": 1.0}]
    model = {"weights": str(root / "model/model.pth"), "model": MODEL, "size": 64, "device": "cpu"}
    assert main(["augment", "--policy", "x", "--policies", json.dumps(policy), "--sources", json.dumps(sources),
                 "--diagnosis", str(tmp_path / "diagnosis.json"), "--source-model", json.dumps(model),
                 "--renderer", json.dumps(renderer), "--seed", "3", "--out", str(tmp_path / "aug")]) == 0
    made = load_samples(tmp_path / "aug")
    assert len(made) == len(load_samples(root / "raw", root / "split.json", "train"))
    images = np.stack([read_image(s.image) for s in made])
    assert images.shape[1:3] == (40, 40)                                   # the plugin's renders, not the photos
    toes = np.stack([read_mask(s.mask) for s in made]) == CLASSES["names"].index("toe")
    red = images[..., 0].astype(float) - images[..., 2]
    assert toes.any() and red[toes].mean() < 120          # toe_contrast <= 0.5: red - blue <= 95 (the photos': 190)
    assert len({im.tobytes() for im in images}) == len(images)


def test_our_model_infers_by_sliding_crops_as_mmseg_does(sock_task):
    """`inference: {mode: slide}` on a model entry of ours: the predictions are mmseg's own `test_step` ones (its
    preprocessor and slide inference on images read as LoadImageFromFile reads them)."""
    import torch
    from mmseg.structures import SegDataSample

    from realitygap.data import load_samples
    from realitygap.inference import load_batch, predict_samples
    from realitygap.models import load_model

    root = sock_task
    sliding = MODEL | {"inference": {"mode": "slide", "crop": [32, 32], "stride": [16, 24]}}
    net = load_model(root / "model/model.pth", sliding, 64, "cpu")
    assert net.test_cfg["mode"] == "slide"
    samples = load_samples(root / "raw")[:3]
    ours, _ = predict_samples(net, samples)
    images, _ = load_batch(samples)
    bgr = [torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1) for img in images]
    metas = [SegDataSample(metainfo=dict(ori_shape=img.shape[:2], img_shape=img.shape[:2], pad_shape=img.shape[:2]))
             for img in images]
    with torch.no_grad():
        theirs = net.test_step({"inputs": bgr, "data_samples": metas})
    assert np.array_equal(ours, np.stack([s.pred_sem_seg.data[0].numpy() for s in theirs]))
    whole, _ = predict_samples(load_model(root / "model/model.pth", MODEL, 64, "cpu"), samples)
    assert not np.array_equal(ours, whole)                   # the crops see less context: another answer
