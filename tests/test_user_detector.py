"""A user's own mmdet detector in the instance track, from a config file (with its own registered backbone) and a
checkpoint, on a COCO task our renderer did not make: frozen, it predicts what mmdet's own inference predicts;
fine-tuned, it starts from the checkpoint; every bad file is refused with its name and nothing written."""

import json
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from realitygap.cli import main
from realitygap.io import read_json

CATEGORIES = ["mug", "spoon"]
CLASSES = {"names": ["table", "mug", "spoon"], "palette": [[0, 0, 0], [40, 80, 220], [230, 140, 20]], "ignore_index": 255}
SHAPE = (56, 80)                      # (h, w): not square, not a size our renderer draws
TRAIN = {"iters": 2, "batch_size": 2, "optimizer": "adamw", "lr": 0.0, "momentum": 0.9, "weight_decay": 0.0001,
         "warmup_iters": 1, "milestones": [0.5, 0.9], "checkpoint_interval": 2}

MODULE = '''
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import nn


@MODELS.register_module()
class KitchenBackbone(BaseModule):
    """Four strided convolutions (strides 4 to 32): the user's own registered module, no batch norm."""

    def __init__(self, width=8, init_cfg=None):
        super().__init__(init_cfg)
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, stride=4, padding=1), nn.ReLU())
        self.stages = nn.ModuleList(nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU())
                                    for _ in range(3))

    def forward(self, x):
        outs = [self.stem(x)]
        for stage in self.stages:
            outs.append(stage(outs[-1]))
        return tuple(outs)
'''


def _config(num_classes: int, detector: str = "MaskRCNN") -> str:
    """A user's mmdet config: our Mask R-CNN's heads on the user's backbone, BGR input, its own mean and std."""
    from realitygap.detectors import maskrcnn_config

    model = maskrcnn_config(18, num_classes)
    model["type"] = detector
    model["backbone"] = dict(type="KitchenBackbone", width=8,
                             init_cfg=dict(type="Pretrained", checkpoint="https://example.invalid/kitchen.pth"))
    model["neck"]["in_channels"] = [8, 8, 8, 8]
    model["data_preprocessor"] |= dict(mean=[90.0, 100.0, 110.0], std=[40.0, 45.0, 50.0], bgr_to_rgb=False)
    if detector != "MaskRCNN":
        model["roi_head"] = {k: v for k, v in model["roi_head"].items() if not k.startswith("mask")}
    pipeline = [dict(type="LoadImageFromFile"), dict(type="Resize", scale=(SHAPE[1], SHAPE[0]), keep_ratio=True),
                dict(type="PackDetInputs", meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor"))]
    return (f'default_scope = "mmdet"\ncustom_imports = dict(imports=["kitchen_backbone"], allow_failed_imports=False)\n'
            f"model = {model!r}\ntest_dataloader = dict(dataset=dict(type=\"CocoDataset\", pipeline={pipeline!r}))\n")


def kitchen(folder, count: int, seed: int) -> None:
    """`count` table-top photos with mugs (round, blue) and spoons (long, orange), and their COCO file."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    coco = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": c} for i, c in enumerate(CATEGORIES)]}
    yy, xx = np.mgrid[:SHAPE[0], :SHAPE[1]]
    for i in range(count):
        image = np.full((*SHAPE, 3), (120, 100, 80), np.uint8) + rng.integers(0, 12, (*SHAPE, 3), dtype=np.uint8)
        for k, category in enumerate(["mug", "spoon", "mug"][: 2 + i % 2]):
            cx, cy = rng.integers(14, SHAPE[1] - 14), rng.integers(12, SHAPE[0] - 12)
            if category == "mug":
                inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= 8 ** 2
            else:
                inside = (abs(xx - cx) <= 11) & (abs(yy - cy) <= 2)
            image[inside] = CLASSES["palette"][CATEGORIES.index(category) + 1]
            ys, xs = np.nonzero(inside)
            x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
            coco["annotations"].append({"id": 10 * i + k + 1, "image_id": i + 1, "category_id": CATEGORIES.index(category) + 1,
                                        "bbox": [x0, y0, x1 - x0, y1 - y0], "area": int(inside.sum()), "iscrowd": 0,
                                        "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]]})
        Image.fromarray(image).save(folder / "images" / f"k{i}.png")
        coco["images"].append({"id": i + 1, "file_name": f"k{i}.png", "height": SHAPE[0], "width": SHAPE[1]})
    (folder / "coco.json").write_text(json.dumps(coco))


@pytest.fixture(scope="module")
def user_detector(tmp_path_factory):
    """Config files, module and checkpoint of a user's detector, and the ingested, split kitchen photos."""
    root = tmp_path_factory.mktemp("user_detector")
    (root / "kitchen_backbone.py").write_text(textwrap.dedent(MODULE))
    (root / "kitchen_det.py").write_text(_config(len(CATEGORIES)))
    (root / "three.py").write_text(_config(3))
    (root / "boxes_only.py").write_text(_config(len(CATEGORIES), "FasterRCNN"))
    sys.path.insert(0, str(root))
    from realitygap.detectors import build_detector

    entry = {"config": str(root / "kitchen_det.py")}
    torch.manual_seed(0)
    net = build_detector(entry, len(CATEGORIES))
    torch.save({"meta": {"note": "trained by the user"}, "state_dict": net.state_dict()}, root / "kitchen_det.pth")
    kitchen(root / "photos", 8, 3)
    assert main(["ingest", "--format", "coco", "--domain", "photos", "--coco", str(root / "photos/coco.json"),
                 "--images", str(root / "photos/images"), "--class-map", json.dumps({"mug": "mug", "spoon": "spoon"}),
                 "--classes", json.dumps(CLASSES), "--out", str(root / "raw")]) == 0
    assert main(["split", "--dataset", str(root / "raw"), "--params",
                 json.dumps({"fractions": {"train": 0.5, "val": 0.25, "test": 0.25}}), "--out", str(root / "split.json")]) == 0
    yield root, entry | {"checkpoint": str(root / "kitchen_det.pth")}
    sys.path.remove(str(root))


def _train(root, model, out, mix="photos", loss="ce") -> int:
    sources = [{"dataset": str(root / "raw"), "split": str(root / "split.json"), "fraction": 1.0}]
    return main(["instances", "train", "--sources", json.dumps(sources), "--model", json.dumps(model), "--loss", loss,
                 "--params", json.dumps(TRAIN), "--categories", json.dumps(CATEGORIES), "--mix", mix,
                 "--device", "cpu", "--out", str(out)])


def test_a_frozen_user_detector_predicts_what_mmdet_predicts_and_is_explained(user_detector, tmp_path):
    from mmdet.apis import inference_detector, init_detector

    root, entry = user_detector
    frozen = entry | {"frozen_mix": "photos"}
    assert _train(root, frozen, tmp_path / "model") == 0
    assert read_json(tmp_path / "model/train.json")["frozen"] is True
    assert main(["instances", "predict", "--weights", str(tmp_path / "model/model.pth"), "--model", json.dumps(frozen),
                 "--categories", json.dumps(CATEGORIES), "--datasets",
                 json.dumps({"photos": [str(root / "raw"), str(root / "split.json")]}), "--device", "cpu",
                 "--out", str(tmp_path / "pred")]) == 0
    ours = read_json(tmp_path / "pred/photos.json")
    reference = init_detector(str(root / "kitchen_det.py"), entry["checkpoint"], device="cpu")
    for image_id in ours["image_ids"]:
        mine = sorted((d for d in ours["detections"] if d["image_id"] == image_id), key=lambda d: -d["score"])
        theirs = inference_detector(reference, str(root / f"raw/images/k{image_id - 1}.png")).pred_instances
        assert len(mine) == len(theirs) > 0
        order = theirs.scores.argsort(descending=True)
        np.testing.assert_allclose([d["score"] for d in mine], theirs.scores[order].numpy(), atol=1e-5)
        boxes = theirs.bboxes[order].numpy()
        np.testing.assert_allclose([d["bbox"] for d in mine], np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]],
                                   atol=0.006)          # our COCO results round to 2 decimals
        assert [CATEGORIES[d["category_id"] - 1] for d in mine] == [CATEGORIES[i] for i in theirs.labels[order]]
    explain = {"domain": "photos", "num_images": 2, "iou": 0.5,
               "methods": {"drise": {"masks": 8}, "instance_gradcam": {"head": "class"}}}
    assert main(["instances", "explain", "--weights-of", json.dumps({"photos": str(tmp_path / "model/model.pth")}),
                 "--model", json.dumps(frozen), "--categories", json.dumps(CATEGORIES), "--params", json.dumps(explain),
                 "--datasets", json.dumps({"photos": [str(root / "raw"), str(root / "split.json")]}),
                 "--device", "cpu", "--out", str(tmp_path / "explained")]) == 0       # the user's backbone explained
    maps = np.load(tmp_path / "explained/maps.npz")
    assert maps["photos__instance_gradcam"].shape == (2, *SHAPE) and np.isfinite(maps["photos__drise"]).all()


def test_fine_tuning_starts_from_the_users_checkpoint_with_the_runs_loss(user_detector, tmp_path):
    root, entry = user_detector
    assert _train(root, entry | {"frozen_mix": "elsewhere"}, tmp_path / "model", loss="seesaw") == 0
    trained = torch.load(tmp_path / "model/model.pth", weights_only=True)
    start = torch.load(entry["checkpoint"], weights_only=True)["state_dict"]
    assert set(trained) == set(start) | {"roi_head.bbox_head.loss_cls.cum_samples"}       # seesaw's own counts
    assert trained["roi_head.bbox_head.fc_cls.weight"].shape[0] == len(CATEGORIES) + 2     # seesaw's C + 2 scores
    for key in start:                                  # lr 0 and no batch norm: everything else is the checkpoint
        if not key.startswith("roi_head.bbox_head.fc_cls"):
            torch.testing.assert_close(trained[key], start[key], msg=key)


@pytest.mark.parametrize("edit, message", [
    (lambda root, e: e | {"config": str(root / "three.py")}, "three.py: model.roi_head.bbox_head has num_classes=3, "
                                                             "the task has 2 classes (instance/categories)"),
    (lambda root, e: e | {"config": str(root / "boxes_only.py")}, "boxes_only.py: the instance track needs a two-stage "
                                                                 "detector with a mask head"),
    (lambda root, e: e | {"checkpoint": str(root / "missing.pth")}, "missing.pth: ... not found"),
    (lambda root, e: e | {"checkpoint": str(root / "kitchen_backbone.py")}, "kitchen_backbone.py: not a readable checkpoint"),
    (lambda root, e: e | {"checkpoint": str(root / "other.pth")}, "other.pth: the weights do not fit the model"),
])
@pytest.mark.parametrize("frozen", [True, False])
def test_a_bad_config_or_checkpoint_is_named_and_nothing_is_written(user_detector, tmp_path, capsys, edit, message, frozen):
    root, entry = user_detector
    torch.save({"backbone.conv.weight": torch.zeros(2)}, root / "other.pth")
    model = edit(root, entry) | ({"frozen_mix": "photos"} if frozen else {})
    assert _train(root, model, tmp_path / "model") != 0
    err = capsys.readouterr().err
    assert all(part in err for part in message.split(" ... ")), err
    assert not (tmp_path / "model/model.pth").exists()
