import json

import numpy as np
import pytest
import yaml

from realitygap.io import InputError, atomic_path, read_image, read_mask, write_json
from realitygap.params import load, resolve
from realitygap.split import split_scenes
from tests.conftest import REPO


def test_split_is_deterministic_and_disjoint(rendered):
    from realitygap.split import run_split

    dataset, split_file = rendered["real"]
    first = json.loads(split_file.read_text())
    again = run_split(dataset, {"train": 0.6, "val": 0.1, "test": 0.3}, 0, split_file.parent / "again.json")
    assert again == first
    scenes = {name: {e["scene"] for e in first[name]} for name in ("train", "val", "test")}
    assert not scenes["train"] & scenes["val"] and not scenes["train"] & scenes["test"]
    assert not scenes["val"] & scenes["test"]
    assert sum(len(first[n]) for n in ("train", "val", "test")) == 20
    assert all(len(e["sha256"]) == 32 for e in first["train"])


def test_split_keeps_views_of_a_scene_together():
    scenes = [f"s{i // 3}" for i in range(30)]      # 10 scenes, 3 views each
    parts = split_scenes(scenes, {"train": 0.6, "val": 0.2, "test": 0.2}, 1)
    assert sorted(sum(parts.values(), [])) == sorted(set(scenes))
    assert split_scenes(scenes, {"train": 0.6, "val": 0.2, "test": 0.2}, 1) == parts
    with pytest.raises(InputError, match="cannot fill"):
        split_scenes(["a", "b"], {"train": 0.6, "val": 0.2, "test": 0.2}, 1)


def test_a_test_only_domain_puts_every_scene_in_test():
    scenes = [f"s{i}" for i in range(7)]
    parts = split_scenes(scenes, {"train": 0.0, "val": 0.0, "test": 1.0}, 3)
    assert parts["train"] == [] and parts["val"] == [] and sorted(parts["test"]) == scenes
    parts = split_scenes(scenes, {"train": 0.0, "val": 0.3, "test": 0.7}, 3)
    assert parts["train"] == [] and len(parts["val"]) == 2 and len(parts["test"]) == 5
    assert split_scenes(["a"], {"train": 0.0, "val": 0.0, "test": 1.0}, 0)["test"] == ["a"]


def test_params_profiles_resolve():
    cfg = load(REPO / "params.yaml", profile="tiny")
    assert cfg["render"]["size"] == 48 and cfg["train"]["iters"] < 50
    assert cfg["render"]["domains"]["sim"]["seam_tint"] > 0      # merged, not replaced
    assert load(REPO / "params.yaml")["profile"] == "default"


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["train"].update(iters=0), "train/iters"),
    (lambda c: c["render"]["domains"]["real"].update(noise_sigma=0.1), "noise_sigma"),
    (lambda c: c.update(profile="huge"), "profile 'huge'"),
    (lambda c: c["train"]["mixes"].update(bad={"nowhere": 1.0}), "train/mixes/bad/nowhere"),
    (lambda c: c["split"]["fractions"].update(test=0.5), "split/fractions"),
    (lambda c: c["split"].update(domains={"real": {"train": 0, "val": 0, "test": 1}}),
     "train/mixes/real/real: real has no training split"),
    (lambda c: c["split"].update(domains={"moon": {"train": 0, "val": 0, "test": 1}}), "split/domains/moon"),
    (lambda c: c["diagnose"].update(target_class="hem"), "diagnose/target_class: unknown class 'hem'"),
    (lambda c: c["train"].update(resize={"scale": [64, 48], "ratio_range": [0.5, 1.0], "crop": [48, 48]}),
     r"train/resize/crop: \[48, 48\] \(h, w\) is larger than the smallest resized image"),
    (lambda c: c["explain"].update(target_classes=["seam", "label"]), "explain/target_classes/1: unknown class"),
    (lambda c: c["classes"].update(palette=[[0, 0, 0]]), "classes/palette: 1 colours for 3 classes"),
    (lambda c: c["classes"].update(ignore_index=1), "classes/ignore_index: 1 is a class value"),
    (lambda c: c["classes"].update(names=["background", "towel", "seam", "hem"],
                                   palette=[[0, 0, 0]] * 4), "the builtin renderer .* labels"),
    (lambda c: c["augment"]["policies"]["randomise"].update(sharpness=1.0), "augment/policies/randomise"),
    (lambda c: c["augment"]["policies"]["randomise"]["factors"].update(glitter=[0, 1]), "glitter"),
    (lambda c: c["augment"]["policies"].update(both={"compose": ["randomise", "nowhere"]}),
     "augment/policies/both/compose: 'nowhere'"),
    (lambda c: c["augment"].update(reference_domain="moon"), "augment/reference_domain"),
    (lambda c: c["augment"].update(seeds=0), "augment/seeds"),
    (lambda c: c["cluster"]["stages"].update(trian={"gpu": 1}), "cluster/stages"),
    (lambda c: c["classes"].update(names=["background", "towel", "seam", "hem"], palette=[[0, 0, 0]] * 4),
     r"train/loss: weighted_ce's class weights \[0.5, 1.0, 3.0\] are for 3 classes, classes/names has 4"),
    (lambda c: c["train"].update(loss=[{"type": "ce", "class_weight": [1.0, 2.0]}]),
     r"train/loss: class_weight \[1.0, 2.0\] are for 2 classes, classes/names has 3"),
    (lambda c: c["instance"].update(model={"config": "det.py", "frozen_mix": "sim"}),
     "instance/model/frozen_mix: a frozen detector needs its checkpoint"),
    (lambda c: c["instance"].update(model={"config": "det.py", "checkpoint": "det.pth", "frozen_mix": "sim"}),
     "instance/longtail/mixes: 'sim' is instance/model/frozen_mix"),
    (lambda c: c["instance"].update(model={"config": "det.py", "checkpoint": "det.pth", "frozen_mix": "sim+real10x"}),
     "instance/model/frozen_mix: 'sim\\+real10x' is not in instance/mixes"),
    (lambda c: c["instance"].update(model={"config": "det.py", "depth": 18}), "instance/model"),
    (lambda c: c["cluster"]["stages"]["train"].update(gpu=-1), "cluster/stages/train/gpu"),
    (lambda c: c["uda"].update(target="moon"), "uda/target: unknown domain 'moon'"),
    (lambda c: c["uda"]["mixes"].update(x={"source": "aug_nowhere"}), "uda/mixes/x/source: 'aug_nowhere'"),
    (lambda c: c["uda"]["mixes"].update(x={"source": "sim", "start": "aug_nowhere"}), "uda/mixes/x/start"),
    (lambda c: c["uda"].update(keep_out=["hem"]), "uda/keep_out/0: unknown class 'hem'"),
    (lambda c: c["uda"].update(alpha=1.0), "uda/alpha"),
    (lambda c: c["pseudolabel"]["classifier"].update(erasing={
        "iters": 10, "puzzle_tiles": 2, "puzzle_weight": 1.0, "cse_weight": 1.0, "ordinary": "frozen",
        "noc_weight": 1.0, "noc_threshold": 0.4}), "pseudolabel/classifier/erasing"),
])
def test_bad_params_name_the_parameter(edit, message):
    cfg = yaml.safe_load((REPO / "params.yaml").read_text())
    edit(cfg)
    with pytest.raises(InputError, match=message):
        resolve(cfg, REPO / "workflow/schemas/params.schema.yaml")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}


def test_bad_images_and_masks_get_clear_errors(tmp_path):
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match="corrupt.png: not a readable image"):
        read_image(tmp_path / "corrupt.png")
    with pytest.raises(InputError, match="missing.png: image not found"):
        read_image(tmp_path / "missing.png")
    import cv2

    cv2.imwrite(str(tmp_path / "m.png"), np.full((8, 10), 7, np.uint8))
    with pytest.raises(InputError, match="does not match"):
        read_mask(tmp_path / "m.png", (8, 8))
    with pytest.raises(InputError, match=r"unknown class values \[7\]"):
        read_mask(tmp_path / "m.png", (8, 10), 3)


def test_progress_writes_plain_lines_when_not_on_a_terminal(caplog):
    import logging

    from realitygap.progress import progress

    with caplog.at_level(logging.INFO, logger="realitygap.progress"):
        assert list(progress(range(20), desc="work")) == list(range(20))
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "work: 2/20" and lines[-1] == "work: 20/20" and len(lines) == 10
