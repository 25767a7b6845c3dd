"""A user's own mmseg model from a config file (with its own registered module) and a checkpoint: frozen,
fine-tuned, predicted like mmseg predicts it, and every bad file refused with its name."""

import json
import sys
import textwrap

import numpy as np
import pytest
import torch

from realitygap.cli import main
from realitygap.io import InputError, read_json
from tests.test_your_task import CLASSES, TRAIN, socks

MODULE = '''
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn


@MODELS.register_module()
class SockBackbone(BaseModule):
    """Two strided convolutions: the user's own registered module."""

    def __init__(self, width=8, init_cfg=None):
        super().__init__(init_cfg)
        self.a = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.b = nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU())

    def forward(self, x):
        a = self.a(x)
        return [a, self.b(a)]
'''

CONFIG = '''
custom_imports = dict(imports=["sock_backbone"], allow_failed_imports=False)
model = dict(
    type="EncoderDecoder",
    data_preprocessor=dict(type="SegDataPreProcessor", mean=[100.0, 110.0, 120.0], std=[50.0, 55.0, 60.0],
                           bgr_to_rgb=False, pad_val=0, seg_pad_val=255, size=(48, 64)),
    backbone=dict(type="SockBackbone", width=8,
                  init_cfg=dict(type="Pretrained", checkpoint="https://example.invalid/sock.pth")),
    decode_head=dict(type="FCNHead", in_channels=8, in_index=1, channels=8, num_convs=1, concat_input=False,
                     num_classes={classes}, norm_cfg=dict(type="BN", requires_grad=True), align_corners=False,
                     loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(), test_cfg=dict(mode="slide", crop_size=(32, 32), stride=(16, 16)))
'''


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    """Config, module and checkpoint of a user's model, and the four-class sock data it segments."""
    root = tmp_path_factory.mktemp("user_model")
    (root / "sock_backbone.py").write_text(textwrap.dedent(MODULE))
    (root / "sock_seg.py").write_text(CONFIG.format(classes=4))
    (root / "three.py").write_text(CONFIG.format(classes=3))
    sys.path.insert(0, str(root))
    from realitygap.models import build_model

    entry = {"config": str(root / "sock_seg.py"), "num_classes": 4}
    torch.manual_seed(0)
    net = build_model(entry, 64)
    torch.save({"meta": {"note": "trained by the user"}, "state_dict": net.state_dict()}, root / "sock_seg.pth")
    socks(root / "photos", 8, 1)
    assert main(["ingest", "--format", "masks", "--domain", "photos", "--images", str(root / "photos/images"),
                 "--masks", str(root / "photos/masks"), "--class-map",
                 json.dumps({"10": "floor", "20": "sock", "30": "heel", "40": "toe"}), "--classes", json.dumps(CLASSES),
                 "--out", str(root / "raw")]) == 0
    assert main(["split", "--dataset", str(root / "raw"), "--params",
                 json.dumps({"fractions": {"train": 0.5, "val": 0.25, "test": 0.25}}), "--out", str(root / "split.json")]) == 0
    yield root, entry | {"checkpoint": str(root / "sock_seg.pth")}
    sys.path.remove(str(root))


def _train(root, model, out, mix="photos", params=TRAIN) -> int:
    sources = [{"dataset": str(root / "raw"), "split": str(root / "split.json"), "fraction": 1.0}]
    return main(["train", "--sources", json.dumps(sources), "--model", json.dumps(model), "--params", json.dumps(params),
                 "--size", "64", "--mix", mix, "--device", "cpu", "--out", str(out)])


def test_a_frozen_model_is_imported_and_predicts_as_mmseg_does(user_model, tmp_path):
    from mmseg.structures import SegDataSample

    from realitygap.data import load_samples
    from realitygap.inference import load_batch, predict_samples
    from realitygap.models import load_model

    root, entry = user_model
    frozen = entry | {"frozen_mix": "photos"}
    assert _train(root, frozen, tmp_path / "m") == 0
    assert read_json(tmp_path / "m/train.json")["frozen"] is True
    saved = torch.load(tmp_path / "m/model.pth", weights_only=True)
    given = torch.load(entry["checkpoint"], weights_only=True)["state_dict"]
    assert all(torch.equal(saved[k], given[k]) for k in given)
    net = load_model(tmp_path / "m/model.pth", frozen, 64, "cpu")
    samples = load_samples(root / "raw")[:3]
    ours, _ = predict_samples(net, samples)
    images, _ = load_batch(samples)
    bgr = [torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1) for img in images]   # as LoadImageFromFile reads
    metas = [SegDataSample(metainfo=dict(ori_shape=img.shape[:2], img_shape=img.shape[:2], pad_shape=img.shape[:2]))
             for img in images]
    with torch.no_grad():
        theirs = net.test_step({"inputs": bgr, "data_samples": metas})     # mmseg's preprocessor and slide inference
    assert np.array_equal(ours, np.stack([s.pred_sem_seg.data[0].numpy() for s in theirs]))


def test_fine_tuning_starts_from_the_checkpoint(user_model, tmp_path):
    root, entry = user_model
    assert _train(root, entry, tmp_path / "m", params=TRAIN | {"iters": 1, "lr": 1e-12}) == 0
    tuned = torch.load(tmp_path / "m/model.pth", weights_only=True)
    given = torch.load(entry["checkpoint"], weights_only=True)["state_dict"]
    assert torch.allclose(tuned["decode_head.conv_seg.weight"], given["decode_head.conv_seg.weight"], atol=1e-6)


def test_bad_configs_and_checkpoints_are_named(user_model, tmp_path, capsys):
    root, entry = user_model
    cases = [(entry | {"config": str(root / "three.py"), "frozen_mix": "photos"},
              "three.py: model.decode_head has num_classes=3, the task has 4 classes"),
             (entry | {"config": str(tmp_path / "none.py"), "frozen_mix": "photos"}, "none.py: model config file not found")]
    (tmp_path / "corrupt.pth").write_bytes(b"not a checkpoint")
    cases.append((entry | {"checkpoint": str(tmp_path / "corrupt.pth"), "frozen_mix": "photos"},
                  "corrupt.pth: not a readable checkpoint"))
    torch.save({"state_dict": {"other.weight": torch.zeros(2)}}, tmp_path / "other.pth")
    cases.append((entry | {"checkpoint": str(tmp_path / "other.pth"), "frozen_mix": "photos"},
                  "other.pth: the weights do not fit the model"))
    from mmengine.logging import HistoryBuffer     # what mmengine's message hub keeps in its checkpoints
    torch.save({"state_dict": torch.load(entry["checkpoint"], weights_only=True)["state_dict"],
                "message_hub": {"loss": HistoryBuffer()}}, tmp_path / "state.pth")
    cases.append((entry | {"checkpoint": str(tmp_path / "state.pth"), "frozen_mix": "photos"},
                  "state.pth: holds more than weights \\(training state: mmengine.logging.history_buffer.HistoryBuffer\\).*"
                  "trust_checkpoint: true"))
    for k, (model, message) in enumerate(cases):
        assert _train(root, model, tmp_path / f"out{k}") == 2
        err = capsys.readouterr().err
        assert __import__("re").search(message, err), err
        assert not (tmp_path / f"out{k}" / "model.pth").exists()
    trusted = entry | {"checkpoint": str(tmp_path / "state.pth"), "frozen_mix": "photos", "trust_checkpoint": True}
    assert _train(root, trusted, tmp_path / "trusted") == 0


def test_pretrained_references_are_dropped_so_nothing_is_downloaded(user_model):
    from realitygap.user_models import user_model_config

    root, entry = user_model
    config = user_model_config(entry)
    assert "init_cfg" not in config["backbone"] and config["decode_head"]["num_classes"] == 4
    with pytest.raises(InputError, match="num_classes=3"):
        user_model_config(entry | {"config": str(root / "three.py")})


def test_the_sanity_cascade_walks_a_users_model_from_its_head_back(user_model, small_model):
    from realitygap.explain.scores import SANITY_CASCADE, sanity_cascade
    from realitygap.models import build_model

    _, entry = user_model
    assert sanity_cascade(build_model(entry, 64)) == ("decode_head", "backbone.b", "backbone.a")
    assert sanity_cascade(small_model) == SANITY_CASCADE          # ours: decode head, decoder, encoder
