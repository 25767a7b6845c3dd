"""The stages through the `realitygap` command, without Snakemake."""

import json
import subprocess
import sys

import numpy as np
import pytest

from realitygap.cli import build_parser, main
from tests.conftest import wait_for_checkpoint

STAGES = ["render", "ingest", "split", "train", "predict", "explain", "score", "augment", "summarize", "dvc"]
MODEL = {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 3}
TRAIN = {"iters": 4, "batch_size": 2, "lr": 0.003, "weight_decay": 0.0001, "checkpoint_interval": 2,
         "loss": "ce"}


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_help(stage):
    out = subprocess.run([sys.executable, "-m", "realitygap.cli", stage, "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "usage: realitygap " + stage in out


def test_missing_input_is_named(tmp_path, capsys):
    code = main(["--timings", str(tmp_path / "t"), "split", "--dataset", str(tmp_path / "nowhere"),
                 "--params", '{"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}}', "--out",
                 str(tmp_path / "s.json")])
    assert code == 2
    assert "nowhere/manifest.json: file not found" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


def test_bad_json_params_are_refused():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["split", "--dataset", "x", "--params", "{oops", "--out", "y"])


@pytest.fixture(scope="module")
def trained(rendered, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    sources = [{"dataset": str(rendered["sim"][0]), "split": str(rendered["sim"][1]), "fraction": 1.0}]
    args = ["--timings", str(out / "timings"), "train", "--sources", json.dumps(sources), "--model",
            json.dumps(MODEL), "--params", json.dumps(TRAIN), "--size", "48", "--mix", "sim", "--out", str(out)]
    assert main(args) == 0
    return out, args


def test_train_writes_weights_log_and_checkpoints(trained):
    out, _ = trained
    summary = json.loads((out / "train.json").read_text())
    assert summary["iters"] == 4 and summary["train_samples"] > 0 and "mIoU" in summary["val"]
    assert (out / "model.pth").stat().st_size > 0
    assert (out / "work_dir" / "fingerprint.txt").is_file() and list((out / "work_dir").glob("*/*.log"))
    # the finished run's checkpoints (weights + optimizer state) are gone: they only serve an interrupted run
    assert not list((out / "work_dir").glob("*.pth")) and not (out / "work_dir" / "last_checkpoint").exists()


def test_a_finished_run_run_again_retrains_to_the_same_weights(trained, tmp_path):
    import shutil

    import torch

    out, args = trained
    again = tmp_path / "model"
    shutil.copytree(out, again)
    before = torch.load(out / "model.pth", weights_only=True)
    assert main([str(again) if a == str(out) else a for a in args]) == 0   # no checkpoint left: trains afresh
    after = torch.load(again / "model.pth", weights_only=True)
    for key in before:
        torch.testing.assert_close(before[key], after[key], rtol=0, atol=0)
    logs = sorted((again / "work_dir").glob("*/*.log"))
    assert len(logs) == 2 and "resumed epoch" not in logs[-1].read_text()


def test_changed_data_or_params_retrain_instead_of_resuming(trained, rendered, tmp_path):
    import shutil

    import torch

    out, args = trained
    rerun = tmp_path / "model"
    shutil.copytree(out, rerun)
    args = [str(rerun) if a == str(out) else a for a in args]
    before = torch.load(rerun / "model.pth", weights_only=True)
    changed = args[args.index("--params") + 1]
    args[args.index("--params") + 1] = changed.replace('"lr": 0.003', '"lr": 0.01')
    assert args[args.index("--params") + 1] != changed
    assert main(args) == 0                      # new params: the old checkpoints are dropped, not resumed
    logs = sorted((rerun / "work_dir").glob("*/*.log"))
    assert len(logs) == 1 and "resumed epoch" not in logs[0].read_text()
    after = torch.load(rerun / "model.pth", weights_only=True)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_training_killed_mid_run_resumes_to_the_same_weights(rendered, tmp_path):
    """SIGKILL after the first checkpoint, start again: the weights equal an uninterrupted run's."""
    import signal
    import torch

    sources = [{"dataset": str(rendered["sim"][0]), "split": str(rendered["sim"][1]), "fraction": 1.0}]
    cfg = TRAIN | {"iters": 60, "checkpoint_interval": 4}

    def args(out):
        return ["--timings", str(tmp_path / "timings"), "train", "--sources", json.dumps(sources), "--model",
                json.dumps(MODEL), "--params", json.dumps(cfg), "--size", "48", "--mix", "sim", "--seed", "3",
                "--device", "cpu", "--out", str(out)]

    assert main(args(tmp_path / "whole")) == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "realitygap.cli", *args(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_checkpoint(killed / "work_dir", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training ended before it could be killed"
    assert not (killed / "model.pth").exists()
    assert main(args(killed)) == 0
    logs = sorted((killed / "work_dir").glob("*/*.log"))
    assert "resumed epoch: 0, iter:" in logs[-1].read_text()
    whole = torch.load(tmp_path / "whole" / "model.pth", weights_only=True)
    resumed = torch.load(killed / "model.pth", weights_only=True)
    assert whole.keys() == resumed.keys()
    for key in whole:
        torch.testing.assert_close(resumed[key], whole[key], rtol=0, atol=0)
    scores = [json.loads((d / "train.json").read_text())["val"] for d in (tmp_path / "whole", killed)]
    assert scores[0] == scores[1]


def test_predict_and_score_through_cli(trained, rendered, tmp_path):
    out, _ = trained
    dataset, split = rendered["real"]
    assert main(["--timings", str(tmp_path), "predict", "--weights", str(out / "model.pth"), "--model",
                 json.dumps(MODEL), "--size", "48", "--dataset", str(dataset), "--split", str(split),
                 "--out", str(tmp_path / "p.npz")]) == 0
    with np.load(tmp_path / "p.npz") as data:
        assert data["pred"].shape == data["truth"].shape and data["pred"].max() <= 2
    both = [str(tmp_path / "both_sim.npz"), str(tmp_path / "both_real.npz")]       # one model load, two domains
    assert main(["--timings", str(tmp_path), "predict", "--weights", str(out / "model.pth"), "--model",
                 json.dumps(MODEL), "--size", "48", "--dataset", str(rendered["sim"][0]), str(dataset),
                 "--split", str(rendered["sim"][1]), str(split), "--out", *both]) == 0
    with np.load(tmp_path / "p.npz") as alone, np.load(both[1]) as together, np.load(both[0]) as sim:
        assert np.array_equal(alone["pred"], together["pred"]) and np.array_equal(alone["ids"], together["ids"])
        assert not set(sim["ids"]) & set(alone["ids"])
    assert main(["--timings", str(tmp_path), "score", "segmentation", str(tmp_path / "p.npz"),
                 "--out", str(tmp_path / "s.json")]) == 0
    assert 0 <= json.loads((tmp_path / "s.json").read_text())["mIoU"] <= 100


def test_dvc_track_names_what_is_missing(tmp_path, capsys):
    assert main(["dvc", "track", "--root", str(tmp_path)]) == 2
    assert "is not a DVC repository: run `dvc init`" in capsys.readouterr().err
    (tmp_path / ".dvc").mkdir()
    assert main(["dvc", "track", "--root", str(tmp_path)]) == 2
    assert "no workflow outputs under" in capsys.readouterr().err


def test_a_mix_of_two_image_sizes_needs_resize_and_trains_with_it(tmp_path):
    """Two domains of other non-square sizes in one mix: a clear error naming train/resize, then mmseg's
    RandomResize + RandomCrop make one batch size of them."""
    from realitygap.ingest import ingest_mask_folders
    from realitygap.io import InputError, write_png
    from realitygap.runner import dataloader_config
    from realitygap.data import load_samples
    from tests.conftest import bench_classes

    rng = np.random.default_rng(0)
    datasets = []
    for name, (h, w) in (("wide", (96, 128)), ("small", (75, 100))):
        for i in range(3):
            write_png(tmp_path / name / "images" / f"{name}{i}.png", rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
            write_png(tmp_path / name / "masks" / f"{name}{i}.png", rng.integers(0, 3, (h, w), dtype=np.uint8))
        ingest_mask_folders(tmp_path / name / "images", tmp_path / name / "masks", {"0": "background", "1": "towel",
                            "2": "seam"}, bench_classes(), name, tmp_path / "data" / name)
        datasets.append(tmp_path / "data" / name)
    samples = [s for d in datasets for s in load_samples(d)]
    with pytest.raises(InputError, match=r"2 sizes \(100x75 \(3 images\), 128x96 \(3 images\)\).*train/resize"):
        dataloader_config(samples, 2, True, bench_classes())
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    import realitygap.seg_dataset  # noqa: F401
    init_default_scope("mmseg")
    cfg = dataloader_config(samples, 2, True, bench_classes(), {"scale": [128, 96], "ratio_range": [0.5, 1.5],
                                                                 "crop": [48, 64]})
    dataset = DATASETS.build(cfg["dataset"])
    shapes = {tuple(dataset[i]["inputs"].shape) for i in range(len(dataset))}
    assert shapes == {(3, 48, 64)}      # resized to at least half of 128x96, then cropped: one batchable size
    assert dataset.metainfo["classes"] == ("background", "towel", "seam")
