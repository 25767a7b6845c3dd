"""Augmentation policies: each changes what it should, keeps masks aligned (geometric ones move the
mask with the image), is reproducible from its seed, and rejects bad params clearly."""

import json

import numpy as np
import pytest
import torch

from tests.conftest import bench_classes
from realitygap.augment import PolicyContext, build_policy
from realitygap.augment.baseline import factors
from realitygap.augment.camera import DepthOfField
from realitygap.augment.stage import policy_context, run_augment
from realitygap.augment.xai_guided import off_target_regions
from realitygap.data import load_samples
from realitygap.io import read_image, read_json, read_mask
from realitygap.score.policies import closure_study, gap_closed
from realitygap.stats import mean_ci95

CAMERA = {"type": "camera", "chromatic_aberration": 1.5, "defocus_sigma": 1.0, "gauss_noise_std": 0.03,
          "vignetting": 0.4, "jpeg_quality": [50, 90], "motion_blur": 5, "white_balance": True, "shot_noise": 0.01,
          "probability": 1.0}


def scene_pair(rendered, domain="sim", index=0):
    dataset, split = rendered[domain]
    sample = load_samples(dataset, split, "train")[index]
    return sample, read_image(sample.image), read_mask(sample.mask)


def test_camera_policy_changes_image_keeps_mask_and_is_reproducible():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    mask = rng.integers(0, 3, (48, 48), dtype=np.uint8)
    policy = build_policy("camera", {"camera": CAMERA})
    a_img, a_mask = policy(image, mask, seed=3)
    b_img, _ = policy(image, mask, seed=3)
    c_img, _ = policy(image, mask, seed=4)
    assert np.array_equal(a_mask, mask)
    assert not np.array_equal(a_img, image)
    assert np.array_equal(a_img, b_img) and not np.array_equal(a_img, c_img)


def test_vignetting_darkens_corners_not_centre():
    policy = build_policy("v", {"v": {"type": "camera", "vignetting": 0.5, "probability": 1.0}})
    image = np.full((33, 33, 3), 200, np.uint8)
    out, _ = policy(image, np.zeros((33, 33), np.uint8), seed=0)
    assert out[16, 16, 0] >= 199 and out[0, 0, 0] < out[16, 16, 0]


def test_depth_of_field_blurs_only_away_from_the_focus_depth():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    depth = np.zeros((32, 32), np.float32)
    depth[:, 16:] = 1.0                                   # left half at depth 0, right half far away
    dof = DepthOfField(max_sigma=2.0, depth_of_focus=0.03, p=1.0)
    dof.set_random_seed(0)
    params = dof.get_params_dependent_on_data({}, {"depth": depth})
    out = dof.apply(image, **params)
    sharp = params["defocus"] == 0
    assert sharp.any() and (~sharp).any()                 # one side is in focus, the other not
    assert np.array_equal(out[sharp], image[sharp])
    assert out[~sharp].std() < image[~sharp].std()        # blur lowers the noise's spread


def test_camera_depth_of_field_reads_the_rendered_depth(rendered):
    sample, image, mask = scene_pair(rendered)
    policy = build_policy("c", {"c": {"type": "camera", "depth_of_field": 2.0, "probability": 1.0}})
    out, out_mask = policy(image, mask, seed=0, sample=sample)
    assert np.array_equal(out_mask, mask) and not np.array_equal(out, image)
    with pytest.raises(ValueError, match="needs"):
        policy(image, mask, seed=0)                        # no sample: no depth


def test_style_transfer_moves_colour_statistics_towards_the_references(rendered):
    dataset, split = rendered["real"]
    context = policy_context([{"dataset": str(dataset), "split": str(split)}])
    assert len(context.references) == len(read_json(split)["train"])
    one = PolicyContext(references=context.references[:1])          # a single reference: a known target
    policy = build_policy("s", {"s": {"type": "style", "methods": ["histogram"], "blend": [1.0, 1.0],
                                      "probability": 1.0}}, one)
    sample, _, mask = scene_pair(rendered)
    image = np.random.default_rng(0).integers(0, 120, (*mask.shape, 3), dtype=np.uint8)   # distinct values
    out, out_mask = policy(image, mask, seed=0, sample=sample)
    ref = read_image(one.references[0]).reshape(-1, 3).mean(0)
    before = np.abs(image.reshape(-1, 3).mean(0) - ref).sum()
    after = np.abs(out.reshape(-1, 3).mean(0) - ref).sum()
    assert np.array_equal(out_mask, mask) and after < 0.5 * before
    fda = build_policy("f", {"f": {"type": "style", "methods": ["fda"], "fda_beta": 0.1, "probability": 1.0}}, one)
    fda_out = fda(image, mask, seed=0, sample=sample)[0].astype(float)
    low = lambda img: np.abs(np.fft.fft2(img.mean(2)))[:2, :2]           # noqa: E731  lowest frequencies
    ref_img = read_image(one.references[0]).astype(float)
    assert np.abs(low(fda_out) - low(ref_img)).sum() < np.abs(low(image.astype(float)) - low(ref_img)).sum()
    with pytest.raises(ValueError, match="reference images"):
        build_policy("s", {"s": {"type": "style"}})


def test_domain_randomisation_rerenders_the_same_scene_with_drawn_factors(rendered):
    sample, image, mask = scene_pair(rendered)
    cfg = {"type": "randomise", "colours": False, "factors": {"seam_tint": [0.0, 0.0], "fabric_texture": [0.3, 0.3]}}
    out, out_mask = build_policy("r", {"r": cfg})(image, mask, seed=0, sample=sample)
    assert np.array_equal(out_mask, mask)                  # same geometry
    sim_only = dict(cfg, factors={"seam_contrast": [0.35, 0.35], "seam_tint": [0.5, 0.5]})
    same, _ = build_policy("r", {"r": sim_only})(image, mask, seed=0, sample=sample)
    assert np.array_equal(same, image)                     # the source's own factors reproduce it exactly
    plain, _ = build_policy("r", {"r": dict(cfg, factors={"seam_tint": [0.0, 0.0]})})(image, mask, seed=0, sample=sample)
    towel = mask == 1
    assert out[towel].std() > plain[towel].std()           # fabric texture was added
    assert not np.array_equal(plain, image)                # the planted tint is gone
    with pytest.raises(ValueError, match="unknown render factors"):
        build_policy("r", {"r": {"type": "randomise", "factors": {"glitter": [0, 1]}}})
    with pytest.raises(ValueError, match="range"):
        build_policy("r", {"r": {"type": "randomise", "factors": {"noise_std": [0.2, 0.1]}}})


@pytest.mark.parametrize("name", sorted(factors(0.5)))
def test_baseline_factors_move_masks_only_when_geometric(name):
    mask = np.zeros((40, 40), np.uint8)
    mask[5:20, 8:30] = 1
    mask[10:12, 8:30] = 2
    rng = np.random.default_rng(2)
    geometric = name in ("shear_x", "shear_y", "rotate", "flip")
    # geometric: the image paints the mask, so alignment can be read back; photometric: noise
    image = (np.repeat(mask[..., None], 3, 2) * 100).astype(np.uint8) if geometric else \
        rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    policy = build_policy("b", {"b": {"type": "baseline", "ops": 1, "magnitude": 1.0, "factors": [name]}})
    outs = [policy(image, mask, seed=s) for s in range(4)]
    assert any(not np.array_equal(o, image) for o, _ in outs)
    for out, out_mask in outs:
        assert set(np.unique(out_mask)) <= {0, 1, 2}
        if geometric:
            assert (np.abs(out[..., 0] / 100.0 - out_mask) < 0.5).mean() > 0.95
        else:
            assert np.array_equal(out_mask, mask)
    if geometric:
        assert any(not np.array_equal(m, mask) for _, m in outs)


def test_off_target_regions_exclude_the_target_and_its_margin():
    attribution = np.zeros((1, 10, 10))
    attribution[0, 2:8, 2:8] = 1.0
    target = np.zeros((1, 10, 10), bool)
    target[0, 5, :] = True
    region = off_target_regions(attribution, target, threshold=0.5, margin=1)
    assert not region[0, 4:7].any() and region[0, 2:4, 2:8].all() and region[0, 7, 2:8].all()
    assert not region[0, :, :2].any()


def test_xai_guided_policy_follows_the_diagnosis_and_erases_off_target_attribution(rendered, small_model, tmp_path):
    weights = tmp_path / "model.pth"
    torch.save(small_model.state_dict(), weights)
    model = {"weights": str(weights), "model": {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 3}, "size": 48,
             "device": "cpu"}
    diagnosis = {"class": "seam", "ranked_causes": ["seam_tint", "vignetting", "unknown_factor", "jpeg_quality"]}
    context = PolicyContext(diagnosis=diagnosis, model=model, classes=bench_classes())
    policy = build_policy("x", {"x": {"type": "xai_guided", "top_causes": 2, "threshold": 0.0, "margin": 0,
                                      "erase_probability": 1.0, "probability": 1.0}}, context)
    assert policy.causes() == ["seam_tint", "vignetting"]
    assert [type(t).__name__ for t in policy.transform.transforms] == ["RegionErasing", "Vignetting"]
    dataset, split = rendered["sim"]
    samples = load_samples(dataset, split, "train")[:3]
    policy.prepare(samples)
    sample = samples[0]
    image, mask = read_image(sample.image), read_mask(sample.mask)
    region = policy.regions[sample.id]
    assert region.any() and not (region & (mask == 2)).any()
    out, out_mask = policy(image, mask, seed=0, sample=sample)
    assert np.array_equal(out_mask, mask) and not np.array_equal(out[region], image[region])
    with pytest.raises(ValueError, match="diagnosis"):
        build_policy("x", {"x": {"type": "xai_guided"}})


def test_composed_policies_apply_in_turn_and_unknown_names_fail():
    policies = {"a": {"type": "camera", "vignetting": 0.5, "probability": 1.0},
                "b": {"type": "baseline", "ops": 1, "magnitude": 1.0, "factors": ["flip"]},
                "ab": {"compose": ["a", "b"]}}
    image = np.full((21, 21, 3), 200, np.uint8)
    image[:, :5] = 50
    mask = np.zeros((21, 21), np.uint8)
    mask[:, :5] = 1
    out, out_mask = build_policy("ab", policies)(image, mask, seed=0)
    assert np.array_equal(out_mask, mask[:, ::-1]) and out[10, 20, 0] < 60 and out[0, 10, 0] < out[10, 10, 0]
    with pytest.raises(ValueError, match="no policy"):
        build_policy("zz", policies)
    with pytest.raises(ValueError, match="unknown params"):
        build_policy("a", {"a": {"type": "camera", "sharpness": 1}})


def test_augment_stage_writes_copies_and_sources_aligned(rendered, tmp_path):
    dataset, split = rendered["sim"]
    run_augment("baseline", {"baseline": {"type": "baseline", "ops": 2}}, [{"dataset": str(dataset), "split": str(split)}],
                0, tmp_path / "aug", copies=2, keep_source=True)
    manifest = read_json(tmp_path / "aug/manifest.json")
    train_ids = [e["id"] for e in read_json(split)["train"]]
    assert [s["id"] for s in manifest["samples"]] == [v for i in train_ids for v in (i, f"{i}_aug0", f"{i}_aug1")]
    first = train_ids[0]
    assert np.array_equal(read_image(tmp_path / f"aug/images/{first}.png"), read_image(dataset / f"images/{first}.png"))
    for entry in manifest["samples"][:6]:
        assert read_mask(tmp_path / "aug" / entry["mask"]).shape == read_image(tmp_path / "aug" / entry["image"]).shape[:2]


def test_gap_closure_study_pairs_seeds_and_gives_a_t_interval():
    assert gap_closed(60.0, 50.0, 70.0) == pytest.approx(0.5) and gap_closed(1.0, 5.0, 5.0) is None
    on_real = {"seed0": {"sim": 50, "real": 70, "aug_p": 60}, "seed1": {"sim": 40, "real": 60, "aug_p": 55},
               "seed2": {"sim": 45, "real": 65, "aug_p": 55}}
    study = closure_study(on_real, ["p"])
    p = study["policies"]["p"]
    assert p["gap_closed_per_seed"] == {"seed0": 0.5, "seed1": 0.75, "seed2": 0.5}
    mean, ci = mean_ci95([0.5, 0.75, 0.5])
    assert p["gap_closed"] == pytest.approx(mean, abs=1e-4) and p["seeds"] == 3
    half = 4.302653 * np.std([0.5, 0.75, 0.5], ddof=1) / np.sqrt(3)   # t(0.975, 2)
    assert ci == pytest.approx([mean - half, mean + half], abs=1e-5)
    assert study["baselines"]["sim"]["mIoU_on_real"] == 45.0
    with pytest.raises(ValueError, match="aug_q"):
        closure_study(on_real, ["q"])
    for row, value in zip(on_real.values(), (70, 50, 55)):     # a further entry, e.g. the render search's model
        row["searched"] = value
    extra = closure_study(on_real, ["p"], {"simsearch": "searched"})["simsearch"]
    assert extra["gap_closed_per_seed"] == {"seed0": 1.0, "seed1": 0.5, "seed2": 0.5} and extra["seeds"] == 3


def test_xai_guided_rerenders_the_diagnosed_render_factors(rendered, small_model, tmp_path):
    weights = tmp_path / "model.pth"
    torch.save(small_model.state_dict(), weights)
    model = {"weights": str(weights), "model": {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 3}, "size": 48,
             "device": "cpu"}
    context = PolicyContext(diagnosis={"class": "seam", "ranked_causes": ["seam_stitch", "vignetting", "fold_shading"]}, model=model,
                            classes=bench_classes())
    cfg = {"type": "xai_guided", "top_causes": 2, "ranges": {"seam_stitch": [0.6, 0.6]}, "erase_probability": 0.0,
           "probability": 0.0}
    policy = build_policy("x", {"x": cfg}, context)
    assert policy.rerender.cfg["factors"] == {"seam_stitch": [0.6, 0.6]} and policy.image_causes == ["vignetting"]
    dataset, split = rendered["sim"]
    samples = load_samples(dataset, split, "train")[:2]
    policy.prepare(samples)
    image, mask = read_image(samples[0].image), read_mask(samples[0].mask)
    out, out_mask = policy(image, mask, seed=0, sample=samples[0])
    seam = mask == 2
    assert np.array_equal(out_mask, mask)
    assert not np.array_equal(out[seam], image[seam]) and np.array_equal(out[mask == 0], image[mask == 0])


def test_counterfactual_policy_keeps_masks_scales_its_maps_and_reports_flips(rendered, small_model, tmp_path):
    weights = tmp_path / "model.pth"
    torch.save(small_model.state_dict(), weights)
    model = {"weights": str(weights), "model": {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 3}, "size": 48,
             "device": "cpu"}
    real, real_split = rendered["real"]
    references = [s.image for s in load_samples(real, real_split, "train")]
    policy = build_policy("cf", {"cf": {"type": "counterfactual", "iters": 6, "batch_size": 4, "min_strength": 0.5}},
                          PolicyContext(references=references, model=model, classes=bench_classes()))
    dataset, split = rendered["sim"]
    samples = load_samples(dataset, split, "train")[:4]
    policy.prepare(samples)
    assert set(policy.maps) == {s.id for s in samples}
    summary = policy.summary
    assert summary["images"] == 4 and summary["failed_pixels_pct"] > 0       # an untrained model fails somewhere
    assert summary["flip_rate_of_failed"] is None or 0 <= summary["flip_rate_of_failed"] <= 1
    sample = samples[0]
    image, mask = read_image(sample.image), read_mask(sample.mask)
    out, out_mask = policy(image, mask, seed=3, sample=sample)
    again, _ = policy(image, mask, seed=3, sample=sample)
    assert np.array_equal(out_mask, mask) and np.array_equal(out, again)      # labels follow the target: the truth
    change = out.astype(float) - image
    full = policy.maps[sample.id]
    assert np.abs(full).max() > 2                                              # grey levels
    strength = (change * full).sum() / (full * full).sum()                    # least-squares scale of M in the copy
    assert 0.45 <= strength <= 1.05
    with pytest.raises(ValueError, match="source model and reference images"):
        build_policy("cf", {"cf": {"type": "counterfactual"}})


def test_a_new_diagnosis_makes_a_new_dataset_that_trainings_do_not_resume_from(rendered, small_model, tmp_path):
    """The same xai_guided params with another diagnosis make other images; the manifest says so (its causes and
    a digest of the images), so the training fingerprint changes and a rerun trains afresh instead of resuming
    the old run's last checkpoint (found on the default benchmark: the retrained models had not changed)."""
    from realitygap.augment.stage import run_augment
    from realitygap.io import read_json
    from realitygap.runner import run_fingerprint

    weights = tmp_path / "model.pth"
    torch.save(small_model.state_dict(), weights)
    model = {"weights": str(weights), "model": {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 3},
             "size": 48, "device": "cpu"}
    dataset, split = rendered["sim"]
    sources = [{"dataset": str(dataset), "split": str(split), "fraction": 0.2}]
    policies = {"x": {"type": "xai_guided", "top_causes": 1, "erase_probability": 0.0, "probability": 1.0}}
    fingerprints = []
    for cause in ("vignetting", "jpeg_quality"):
        context = PolicyContext(diagnosis={"class": "seam", "ranked_causes": [cause]}, model=model)
        run_augment("x", policies, sources, 0, tmp_path / "aug", context=context)
        manifest = read_json(tmp_path / "aug/manifest.json")
        assert manifest["summary"]["causes"] == [cause] and len(manifest["content_sha256"]) == 64
        fingerprints.append(run_fingerprint([{"dataset": str(tmp_path / "aug"), "split": None}], [], {}, {}, 48, 0))
    assert fingerprints[0] != fingerprints[1]
