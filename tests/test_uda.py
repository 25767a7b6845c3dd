"""Self-training with a mean teacher (`realitygap.uda`): each ingredient against its formula, the step's
contract (the teacher gets no gradients, the target's masks are never read), and a killed run resuming to the
same weights."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from realitygap.cli import main
from realitygap.uda.mixing import (align_distribution, block_masks, class_mix_masks, class_shares, confidence_weight,
                                   ema_alpha, paste, running_mean, strong_augment, update_teacher)
from tests.conftest import wait_for_checkpoint

MODEL = {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 3}
TRAIN = {"iters": 4, "batch_size": 2, "lr": 0.003, "weight_decay": 0.0001, "checkpoint_interval": 2, "loss": "weighted_ce"}
UDA = {"alpha": 0.99, "pseudo_threshold": 0.9, "classmix": True, "align": 0.9, "strong": {"jitter": 0.2, "jitter_p": 1.0,
       "blur_p": 1.0, "sigma": [0.15, 1.15]}, "mic": {"block": 8, "ratio": 0.7, "weight": 1.0}}


def test_the_teachers_weight_grows_from_a_copy_to_alpha():
    assert [ema_alpha(i, 0.99) for i in (0, 1, 3)] == [0.0, 0.5, 0.75]
    assert ema_alpha(10_000, 0.99) == 0.99


def test_the_teacher_is_the_exponential_average_of_the_student():
    torch.manual_seed(0)
    student, teacher = torch.nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    for net in (student, teacher):
        torch.nn.init.normal_(net.weight)
        net.running_mean.normal_()
        net.num_batches_tracked.fill_(7 if net is student else 2)
    expected = {k: 0.9 * teacher.state_dict()[k] + 0.1 * v for k, v in student.state_dict().items()
                if v.dtype.is_floating_point}
    update_teacher(teacher, student, 0.9)
    for key, value in expected.items():
        torch.testing.assert_close(teacher.state_dict()[key], value)
    assert int(teacher.num_batches_tracked) == 7


def test_the_confidence_weight_is_each_images_share_of_confident_pixels():
    probs = torch.softmax(torch.randn(3, 4, 5, 6) * 4, 1)
    expected = [(p.numpy().max(0) >= 0.8).mean() for p in probs]
    np.testing.assert_allclose(confidence_weight(probs, 0.8).numpy(), expected, rtol=1e-6)


def test_classmix_pastes_half_the_classes_image_and_label_together():
    torch.manual_seed(1)
    labels = torch.tensor([[[0, 1, 2, 255], [0, 1, 2, 3]], [[5, 5, 5, 5], [5, 5, 5, 5]]])
    masks = class_mix_masks(labels, 255, keep_out=(3,))
    first = {int(c) for c in labels[0][masks[0]]}
    assert len(first) == 2 and first <= {0, 1, 2}                   # ceil(3 / 2) of its classes, never the kept out
    assert masks[0].sum() == int(torch.isin(labels[0], torch.tensor(sorted(first))).sum())   # every pixel of them
    assert masks[1].all()                                            # one class: ceil(1 / 2) = 1, all of it
    source, target = torch.rand(2, 3, 2, 4), torch.rand(2, 3, 2, 4)
    image, label = paste(masks, source, target), paste(masks, labels, torch.zeros_like(labels))
    m = masks.unsqueeze(1).expand_as(source)
    assert torch.equal(image[m], source[m]) and torch.equal(image[~m], target[~m])
    assert torch.equal(label[masks], labels[masks]) and (label[~masks] == 0).all()


def test_strong_augmentation_keeps_shape_and_changes_pixels_only_when_drawn():
    torch.manual_seed(0)
    mean, std = torch.tensor([120.0, 110.0, 100.0]), torch.tensor([60.0, 55.0, 50.0])
    images = (torch.rand(2, 3, 16, 16) * 255 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    assert torch.allclose(strong_augment(images, mean, std, jitter_p=0.0, blur_p=0.0), images, atol=1e-4)
    changed = strong_augment(images, mean, std, jitter_p=1.0, blur_p=1.0)
    assert changed.shape == images.shape and not torch.allclose(changed, images, atol=1e-2)


def test_distribution_alignment_scales_by_the_prior_ratio_and_renormalises():
    probs = torch.softmax(torch.randn(2, 3, 4, 5), 1)
    source, target = torch.tensor([0.6, 0.3, 0.1]), torch.tensor([0.2, 0.3, 0.5])
    p = probs.numpy()
    expected = p * (source.numpy() / target.numpy())[None, :, None, None]
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(align_distribution(probs, source, target).numpy(), expected, rtol=1e-5)
    labels = torch.tensor([[0, 0, 1, 255], [2, 0, 1, 255]])
    np.testing.assert_allclose(class_shares(labels, 3, 255).numpy(), [0.5, 1 / 3, 1 / 6], rtol=1e-6)
    running = torch.zeros(3)
    running_mean(running, source, 0.9)                                     # the first batch is taken as it is
    running_mean(running, target, 0.9)
    np.testing.assert_allclose(running.numpy(), 0.9 * source.numpy() + 0.1 * target.numpy(), rtol=1e-6)


def test_mic_masks_drop_whole_blocks_at_the_ratio():
    torch.manual_seed(0)
    masks = block_masks((64, 32, 32), 8, 0.7)
    assert masks.shape == (64, 1, 32, 32)
    blocks = masks[:, 0, ::8, ::8]
    assert torch.equal(masks[:, 0], blocks.repeat_interleave(8, 1).repeat_interleave(8, 2))
    assert abs(1 - float(blocks.mean()) - 0.7) < 0.05


def uda_args(rendered, target, out, tmp_path, cfg=TRAIN):
    sources = [{"dataset": str(rendered["sim"][0]), "split": str(rendered["sim"][1]), "fraction": 1.0}]
    return ["--timings", str(tmp_path / "timings"), "train", "--sources", json.dumps(sources), "--model",
            json.dumps(MODEL), "--params", json.dumps(cfg), "--size", "48", "--mix", "uda_sim", "--seed", "2",
            "--device", "cpu", "--target", json.dumps([target]), "--uda", json.dumps(UDA), "--out", str(out)]


@pytest.fixture(scope="module")
def unlabeled_real(rendered, tmp_path_factory):
    """The rendered real domain with its masks deleted: what self-training may read of the target."""
    root = tmp_path_factory.mktemp("unlabeled") / "real"
    shutil.copytree(rendered["real"][0], root)
    shutil.rmtree(root / "masks")
    return {"dataset": str(root), "split": str(rendered["real"][1])}


def test_self_training_never_reads_the_targets_masks(rendered, unlabeled_real, tmp_path):
    assert main(uda_args(rendered, unlabeled_real, tmp_path / "uda", tmp_path)) == 0
    summary = json.loads((tmp_path / "uda" / "train.json").read_text())
    assert summary["target_samples"] == len(json.loads(open(unlabeled_real["split"]).read())["train"])
    state = torch.load(tmp_path / "uda" / "model.pth", weights_only=True)
    assert not any(k.startswith(("student.", "teacher.")) for k in state)      # the student, as a plain model


def test_the_teacher_gets_no_gradients_and_follows_the_student():
    from mmengine.optim import OptimWrapper
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData
    from mmseg.utils import register_all_modules

    import realitygap.uda  # noqa: F401  (registers MeanTeacher)
    from realitygap.models import model_config

    register_all_modules(init_default_scope=True)
    torch.manual_seed(0)
    net = MODELS.build(dict(type="MeanTeacher", segmentor=model_config(MODEL, 32, "ce"), **UDA))
    net.init_weights()

    def batch(labelled: bool) -> dict:
        samples = []
        for _ in range(2):
            s = SegDataSample(metainfo=dict(img_shape=(32, 32), ori_shape=(32, 32)))
            if labelled:
                s.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 32, 32)))
            samples.append(s)
        return {"inputs": [torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8) for _ in range(2)],
                "data_samples": samples}

    optim = OptimWrapper(torch.optim.SGD(net.student.parameters(), lr=0.1))
    net.train()
    for step in range(2):
        before = {k: v.clone() for k, v in net.student.state_dict().items()}
        log = net.train_step({"source": batch(True), "target": batch(False)}, optim)
        assert {"src.decode.loss_ce", "mix.loss_ce", "mic.loss_ce"} <= set(log)
        assert all(p.grad is None and not p.requires_grad for p in net.teacher.parameters())
        if step == 0:            # alpha 0 at the first step: the teacher is the student's copy before its update
            for key, value in net.teacher.state_dict().items():
                torch.testing.assert_close(value, before[key])
    assert not net.teacher.training and net.student.training and int(net.updates) == 2


def test_a_killed_self_training_resumes_to_the_same_weights(rendered, unlabeled_real, tmp_path):
    cfg = TRAIN | {"iters": 40, "checkpoint_interval": 4}
    assert main(uda_args(rendered, unlabeled_real, tmp_path / "whole", tmp_path, cfg)) == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "realitygap.cli", *uda_args(rendered, unlabeled_real, killed,
                                                                                tmp_path, cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_checkpoint(killed / "work_dir", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training ended before it could be killed"
    assert main(uda_args(rendered, unlabeled_real, killed, tmp_path, cfg)) == 0
    assert "resumed epoch: 0, iter:" in sorted((killed / "work_dir").glob("*/*.log"))[-1].read_text()
    whole = torch.load(tmp_path / "whole" / "model.pth", weights_only=True)
    resumed = torch.load(killed / "model.pth", weights_only=True)
    for key in whole:
        torch.testing.assert_close(resumed[key], whole[key], rtol=0, atol=0)


def test_the_attribution_change_is_the_mean_pearson_correlation_per_image():
    from scipy import stats

    from realitygap.chapters.adaptation import _correlation

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 8, 8)), rng.normal(size=(3, 8, 8))
    b[1] += a[1]
    expected = np.mean([stats.pearsonr(x.ravel(), y.ravel())[0] for x, y in zip(a, b)])
    assert _correlation(a, b) == pytest.approx(expected, abs=1e-3)
    assert _correlation(np.zeros((2, 4, 4)), b[:2, :4, :4]) is None          # a constant map has no correlation


def test_self_training_runs_on_photos_ingested_unlabeled_from_another_generator(tmp_path):
    """Photo-like towels from an independent generator (tests/photo_domain.py), ingested without masks: the sim model
    self-trains on them (the margin it gains at the default budget is bench/uda_new_domain.py's, 3 seeds)."""
    import yaml

    from realitygap.classes import ClassSet
    from realitygap.ingest import ingest_unlabeled
    from realitygap.render.stage import run_render
    from realitygap.split import run_split
    from realitygap.train import run_train
    from tests.conftest import REPO
    from tests.photo_domain import write_photos

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    render = params["render"]
    run_render("sim", {"size": 48, "count": 24, "scene": render["scene"], "factors": render["domains"]["sim"]}, 0,
               tmp_path / "sim")
    run_split(tmp_path / "sim", {"train": 0.8, "val": 0.2, "test": 0.0}, 0, tmp_path / "sim.json")
    photos = write_photos(tmp_path / "inputs", 20, 48, seed=5)
    ingest_unlabeled(photos / "images", ClassSet.from_json(params["classes"]), "photos", tmp_path / "photos")
    assert not any("mask" in s for s in json.loads((tmp_path / "photos/manifest.json").read_text())["samples"])
    run_split(tmp_path / "photos", {"train": 0.6, "val": 0.0, "test": 0.4}, 0, tmp_path / "photos.json")
    sim = [{"dataset": str(tmp_path / "sim"), "split": str(tmp_path / "sim.json"), "fraction": 1.0}]
    cfg = TRAIN | {"iters": 6, "checkpoint_interval": 6}
    run_train(sim, sim, MODEL, cfg, 48, 0, tmp_path / "sim_model", mix="sim", device="cpu")
    uda = {k: v for k, v in params["uda"].items() if k not in ("target", "mixes")}
    summary = run_train(sim, sim, MODEL, cfg, 48, 0, tmp_path / "uda_model", mix="uda_photos", device="cpu", uda=uda,
                        target=[{"dataset": str(tmp_path / "photos"), "split": str(tmp_path / "photos.json")}],
                        start=str(tmp_path / "sim_model" / "model.pth"))
    assert summary["target_samples"] == len(json.loads((tmp_path / "photos.json").read_text())["train"])
    log = next((tmp_path / "uda_model/work_dir").glob("*/vis_data/scalars.json")).read_text().splitlines()
    assert all(0 <= json.loads(line)["mix.confidence"] <= 1 for line in log if "mix.confidence" in line)


def test_a_self_training_mix_can_start_from_the_pseudo_labels_model(tmp_path):
    """The pseudo-labels as a warm start: `start` names a pseudo-label mix, whose model (at each seed) the student
    starts from; the dry run plans the pseudo-labelling before it."""
    import yaml

    from tests.conftest import REPO, snakemake, write_params

    uda = yaml.safe_load((REPO / "params.yaml").read_text())["uda"]
    uda["mixes"] = {"pseudo": {"source": "sim", "start": "sim+pseudo_real"}}
    plan = snakemake(write_params(tmp_path, uda=uda), "--dry-run", "--printshellcmds",
                     "results/replicates/seed1/models/uda_pseudo/unet/model.pth")
    assert plan.returncode == 0, plan.stderr[-2000:]
    start = [line for line in plan.stdout.splitlines() if "--mix uda_pseudo" in line]
    assert len(start) == 1 and "--start results/replicates/seed1/models/sim+pseudo_real/unet/model.pth" in start[0]
    assert "rule pseudolabel:" in plan.stdout and "rule pseudolabel_classifier:" in plan.stdout
