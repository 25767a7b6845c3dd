import json

import numpy as np
import pytest

from realitygap.render import DomainFactors, rasterize, render_image, sample_scene
from realitygap.render.stage import render_sample, run_render
from tests.conftest import REAL, SCENE, SIM


def _image(factors: dict, index: int = 3, size: int = 64) -> np.ndarray:
    return render_sample(index, "d", {"size": size, "scene": SCENE, "factors": factors}, 7)["image"]


def test_same_seed_same_bytes(tmp_path, render_cfg):
    run_render("real", render_cfg(REAL, count=6), 5, tmp_path / "a")
    run_render("real", render_cfg(REAL, count=6), 5, tmp_path / "b", jobs=2)
    for name in ("images/real_00004.png", "masks/real_00004.png", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    run_render("real", render_cfg(REAL, count=6), 6, tmp_path / "c")
    assert (tmp_path / "a/images/real_00004.png").read_bytes() != (tmp_path / "c/images/real_00004.png").read_bytes()


def test_mask_has_three_classes_and_depth_orders_towels():
    scene = sample_scene(np.random.default_rng(1), 96, SCENE)
    r = rasterize(scene)
    assert set(np.unique(r.mask)) == {0, 1, 2}
    assert r.depth[r.mask == 0].min() == 1.0          # the table is farthest
    assert r.depth[r.mask > 0].max() < 1.0           # towels lie above it


def test_noise_off_gives_same_image_minus_noise():
    noisy = dict(REAL, jpeg_quality=0)
    clean = dict(noisy, noise_std=0.0, shot_noise=0.0)
    a, b = _image(noisy).astype(float), _image(clean).astype(float)
    diff = a - b
    assert abs(diff.mean()) < 1.5                    # zero-mean noise
    assert 3 < diff.std() < 15                       # about noise_std * 255 ~ 8
    assert np.abs(b - _image(clean)).max() == 0      # deterministic without noise


@pytest.mark.parametrize("factor", ["seam_tint", "seam_contrast"])
def test_seam_factors_touch_only_pixels_near_seams(factor):
    scene = sample_scene(np.random.default_rng(2), 64, SCENE)
    r = rasterize(scene)
    on = render_image(scene, r, DomainFactors(**{factor: 0.5}), np.random.default_rng(0))
    off = render_image(scene, r, DomainFactors(), np.random.default_rng(0))
    changed = np.any(on != off, axis=2)
    assert changed.any()
    near_seam = r.seam_dist <= max(t.seam_width for t in scene.towels) / 2 + 2
    assert not changed[~near_seam].any()


@pytest.mark.parametrize("factor", sorted(REAL))
def test_every_real_factor_changes_the_image(factor):
    base = {k: v for k, v in REAL.items() if k != factor}
    if factor in ("noise_std", "shot_noise"):
        base = {k: v for k, v in base.items() if k not in ("noise_std", "shot_noise")}
    assert np.any(_image(base) != _image(dict(base, **{factor: REAL[factor]})))


def test_sim_and_real_differ_but_share_geometry():
    sim = render_sample(0, "x", {"size": 64, "scene": SCENE, "factors": SIM}, 1)
    real = render_sample(0, "x", {"size": 64, "scene": SCENE, "factors": REAL}, 1)
    assert np.array_equal(sim["mask"], real["mask"])
    assert np.abs(sim["image"].astype(int) - real["image"]).mean() > 10


def test_unknown_factor_is_named():
    with pytest.raises(ValueError, match="seam_glow"):
        DomainFactors.from_dict({"seam_glow": 1.0})


def test_interrupted_render_leaves_no_dataset(tmp_path, render_cfg, monkeypatch):
    import realitygap.render.stage as stage

    calls = {"n": 0}
    real_write = stage._write_sample

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_write(*args)

    monkeypatch.setattr(stage, "_write_sample", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_render("sim", render_cfg(SIM, count=6), 0, tmp_path / "sim")
    assert not (tmp_path / "sim").exists()
    assert list(tmp_path.iterdir()) == []


def test_coco_instances_cover_the_towel_pixels(tmp_path, render_cfg):
    from pycocotools import mask as mask_utils

    from realitygap.io import read_json, read_mask

    run_render("sim", render_cfg(SIM, count=8), 0, tmp_path / "sim")
    coco = read_json(tmp_path / "sim/instances.json")
    assert {c["frequency"] for c in coco["categories"]} <= {"r", "c", "f"}
    for image in coco["images"]:
        mask = read_mask(tmp_path / "sim" / image["file_name"].replace("images/", "masks/"))
        union = np.zeros_like(mask, bool)
        for ann in (a for a in coco["annotations"] if a["image_id"] == image["id"]):
            m = mask_utils.decode(ann["segmentation"]).astype(bool)
            assert not (union & m).any()           # visible parts do not overlap
            union |= m
        assert np.array_equal(union, mask > 0)


def test_frequency_groups_follow_lvis():
    from realitygap.coco import frequency_group

    assert [frequency_group(n) for n in (1, 10, 11, 100, 101)] == ["r", "r", "c", "c", "f"]


@pytest.mark.parametrize("factor, region", [
    ("table_texture", "table"), ("table_photo", "table"),
    ("fabric_texture", "towel"), ("fold_shading", "towel"), ("seam_stitch", "seam"),
])
def test_scene_factors_touch_only_their_surface(factor, region):
    scene = sample_scene(np.random.default_rng(4), 64, SCENE)
    r = rasterize(scene)
    on = render_image(scene, r, DomainFactors(**{factor: 0.5}), np.random.default_rng(0))
    off = render_image(scene, r, DomainFactors(), np.random.default_rng(0))
    changed = np.any(on != off, axis=2)
    allowed = {"table": r.mask == 0, "towel": r.mask > 0, "seam": r.mask == 2}[region]
    assert changed.any() and not changed[~allowed].any()


def test_folded_towels_have_no_seam_on_the_fold():
    cfg = dict(SCENE, states={"folded": 1.0}, inner_seam_prob=0.0, towels_min=1, towels_max=1)
    scene = sample_scene(np.random.default_rng(0), 96, cfg)
    r = rasterize(scene)
    t = scene.towels[0]
    on_towel = r.owner == 0
    near_fold = on_towel & (t.half_size[0] - r.u < 1.0) & (np.abs(r.v) < t.half_size[1] - 8)
    near_open_edge = on_towel & (t.half_size[0] + r.u < t.hem_inset + t.seam_width) & (np.abs(r.v) < t.half_size[1] - 8)
    assert near_fold.any() and not (r.mask[near_fold] == 2).any()
    assert (r.mask[near_open_edge] == 2).any()


def test_cue_mask_marks_exactly_where_the_planted_tint_is_drawn():
    cfg = {"size": 64, "scene": SCENE}
    for index in range(3):
        clean = render_sample(index, "d", {**cfg, "factors": {}}, 7)
        tinted = render_sample(index, "d", {**cfg, "factors": {"seam_tint": 0.5}}, 7)
        changed = (clean["image"] != tinted["image"]).any(-1)
        fringe = (tinted["cues"] & 1).astype(bool)
        assert fringe.any() and np.array_equal(changed, fringe & changed) and changed.sum() >= 0.9 * fringe.sum()
        assert not (fringe & (tinted["mask"] == 2)).any()      # the fringe lies beside the seam, not on it


def test_manifest_records_cue_regions_and_factors(tmp_path, render_cfg):
    out = run_render("sim", render_cfg({"seam_tint": 0.5}, count=2), 0, tmp_path / "sim")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cues"]["fringe"] == {"bit": 1, "factors": ["seam_tint"]}
    assert manifest["factors"] == {"seam_tint": 0.5}
    assert all((out / s["cues"]).exists() for s in manifest["samples"])
