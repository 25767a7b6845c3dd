"""Model comparison: linear CKA against its feature-space formula, region ablation, cause ranking."""

import numpy as np
import pytest
import torch

from realitygap.diagnose import linear_cka
from realitygap.diagnose.regions import ablate
from realitygap.diagnose.stage import differing_factors, rank_causes


def cka_feature_space(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al.'s formula as written: ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F), centred."""
    x, y = x - x.mean(0), y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def test_linear_cka_matches_the_feature_space_formula_and_its_invariances():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 40))
    y = x @ rng.standard_normal((40, 30)) + 0.5 * rng.standard_normal((12, 30))
    assert linear_cka(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(cka_feature_space(x, y), rel=1e-9)
    q, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    assert linear_cka(torch.from_numpy(x), torch.from_numpy(3 * x @ q + 1)) == pytest.approx(1.0)
    # conv activations (n, c, h, w) are flattened per input
    a = torch.from_numpy(rng.standard_normal((6, 4, 5, 5)))
    assert linear_cka(a, a) == pytest.approx(1.0)


def test_ablation_inpaints_a_tinted_band_from_its_surroundings():
    image = np.full((1, 24, 24, 3), 120, np.uint8)
    image[0, 10:12] = (230, 25, 230)                # a magenta band
    region = np.zeros((1, 24, 24), bool)
    region[0, 10:12] = True
    out = ablate(image, region)
    assert np.abs(out[0, 10:12].astype(int) - 120).max() <= 2
    assert np.array_equal(out[0, :10], image[0, :10])


def test_causes_rank_regions_the_source_model_relies_on_more():
    share = lambda s, t: {"source": s, "target": t, "area": 5.0}  # noqa: E731
    attribution = {"gradcam": {"sim": {"share": {"fringe": share(30.0, 10.0), "table": share(5.0, 6.0)}},
                               "real": {"share": {"fringe": share(20.0, 12.0), "table": share(4.0, 4.0)}}}}
    ablation = {"fringe": {"source": {"sim": 40.0, "real": 2.0}, "target": {"sim": 1.0, "real": 1.0}},
                "table": {"source": {"sim": 1.0, "real": None}, "target": {"sim": 3.0, "real": 0.0}}}
    ranked = rank_causes(attribution, ablation, ["table", "fringe"], {"fringe": ["seam_tint"], "table": []})
    assert [r["region"] for r in ranked] == ["fringe", "table"]
    assert ranked[0]["attribution_points"] == pytest.approx(14.0) and ranked[0]["ablation_points"] == pytest.approx(20.0)
    assert ranked[1]["ablation_points"] == pytest.approx(-2.0)


def test_only_factors_that_differ_between_domains_are_named():
    sim = {"factors": {"seam_contrast": 0.35, "seam_tint": 0.5}}
    real = {"factors": {"seam_contrast": 0.04, "vignetting": 0.4, "table_photo": 0.6}}
    got = differing_factors(sim, real)
    assert got["fringe"] == ["seam_tint"] and got["corners"] == ["vignetting"]
    assert got["table"] == ["table_photo"] and got["defocus"] == []
    assert differing_factors({}, real) == {}


def test_pooled_miou_and_its_bootstrap_agree_with_the_segmentation_scores():
    from realitygap.diagnose.transplant import bootstrap_deltas, pooled_miou
    from realitygap.segmentation_metrics import confusion_matrix, segmentation_scores

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, (5, 16, 16)).astype(np.uint8)
    pred = np.where(rng.random(truth.shape) < 0.7, truth, rng.integers(0, 3, truth.shape)).astype(np.uint8)
    confusions = np.stack([confusion_matrix(p, t, 3) for p, t in zip(pred, truth)])
    assert pooled_miou(confusions) == pytest.approx(segmentation_scores(pred, truth, ["a", "b", "c"])["mIoU"], abs=0.01)
    assert np.allclose(bootstrap_deltas(confusions, confusions, 20, rng), 0.0)   # paired: the same images for both
    perfect = np.stack([np.diag(c.sum(1)) for c in confusions])                   # every pixel right
    assert (bootstrap_deltas(perfect, confusions, 20, rng) > 0).all()


@pytest.fixture(scope="module")
def sock_world(tmp_path_factory):
    """A user's renderer (the sock generator as a command plugin) and a model trained on one of its looks."""
    import sys
    from pathlib import Path

    from realitygap.models import load_model
    from realitygap.renderers import render_look
    from realitygap.split import run_split
    from realitygap.train import run_train
    from tests.byo_task import CLASSES

    root = tmp_path_factory.mktemp("sock_world")
    plugin = Path(__file__).with_name("byo_task.py")
    renderer = {"type": "command", "command": f"{sys.executable} {plugin} {{params}} {{out}} {{seed}}"}
    render = {"size": 48, "scene": {}, "classes": CLASSES}
    look = {"noise": 2.0, "toe_contrast": 1.0}
    data = render_look(renderer, render, {"factors": look}, 32, "source", 0, root / "sim", "sim")
    run_split(data, {"train": 0.75, "val": 0.0, "test": 0.25}, 0, root / "split.json")
    model = {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 4}
    src = [{"dataset": str(data), "split": str(root / "split.json"), "fraction": 1.0}]
    run_train(src, src, model, {"iters": 150, "batch_size": 4, "lr": 0.003, "weight_decay": 0.0, "checkpoint_interval": 150,
                                "loss": [{"type": "ce", "class_weight": "frequency"}]}, 48, 0, root / "model", device="cpu")
    return {"renderer": renderer, "render": render, "look": look, "data": data, "split": root / "split.json",
            "net": load_model(root / "model/model.pth", model, 48, "cpu"), "weights": root / "model/model.pth"}


def test_planted_single_factor_is_the_transplant_s_strongest(sock_world):
    """Only the toe's contrast decides whether the toe is seen, the noise barely matters. Transplanting the other
    look's factors one at a time must rank toe_contrast first, with an interval above zero, and noise near zero."""
    import json

    from realitygap.classes import ClassSet
    from realitygap.diagnose.transplant import transplant_effects
    from tests.byo_task import CLASSES

    looks = {"source": sock_world["look"], "target": {"noise": 4.0, "toe_contrast": 0.0}}
    got = transplant_effects(sock_world["net"], sock_world["renderer"], sock_world["render"], looks,
                             {"source": "sim", "target": "real"}, ["noise", "toe_contrast"], ClassSet.from_json(CLASSES),
                             {"count": 12, "pairs": 2, "bootstrap": 200}, 1)
    first, second = got["factors"]
    assert first["factors"] == ["toe_contrast"] and first["effect_ci"][0] > 0, json.dumps(got)
    assert abs(second["effect_points"]) < first["effect_points"] / 3
    assert got["pairs"][0]["factors"] == ["toe_contrast", "noise"] and got["look_gap_points"] > 0


def test_planted_learnable_factor_has_the_largest_fine_tune_gain(sock_world):
    """The target's toes are half as red as the source's (a look a model can learn), its noise a little stronger
    (which a model ignores). Fine-tuning the source model briefly on its own scenes with the toe's contrast as in
    the target must gain on the target look, with an interval above zero, and more than doing so with the noise."""
    import json

    from realitygap.classes import ClassSet
    from realitygap.diagnose.finetune import finetune_effects
    from tests.byo_task import CLASSES

    looks = {"source": sock_world["look"], "target": {"noise": 3.0, "toe_contrast": 0.35}}
    train = {"batch_size": 4, "weight_decay": 0.0, "loss": [{"type": "ce", "class_weight": "frequency"}]}
    model = {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 4}
    got = finetune_effects(str(sock_world["weights"]), model, train, 48, sock_world["renderer"], sock_world["render"],
                           looks, {"source": "sim", "target": "real"}, ["noise", "toe_contrast"],
                           ClassSet.from_json(CLASSES), {"count": 16, "iters": 100, "lr": 0.003, "bootstrap": 200}, 0, "cpu")
    first, second = got["factors"]
    assert first["factors"] == ["toe_contrast"] and first["gain_ci"][0] > 0, json.dumps(got)
    assert second["gain_points"] < first["gain_points"] / 3 and 0 <= got["control_miou"] <= 100
    assert got["scoring_images"] == 16          # no validation images given: fresh scenes in the target look


def test_planted_image_statistic_is_the_strongest_without_a_renderer(sock_world):
    """Target photos that differ from the source only by heavy sensor noise: of the five image statistics
    transplanted onto the source's test images, noise must hurt the model most, with an interval above zero."""
    import json

    from realitygap.classes import dataset_classes
    from realitygap.data import load_samples
    from realitygap.diagnose.image_transplant import statistic_effects
    from realitygap.inference import load_batch

    samples = load_samples(sock_world["data"], sock_world["split"], "test")
    images, truth = load_batch(samples, 4)
    rng = np.random.default_rng(5)
    photos = np.clip(images + rng.normal(0, 30, images.shape), 0, 255).astype(np.uint8)
    got = statistic_effects(sock_world["net"], images, truth, photos, dataset_classes(sock_world["data"]), 200, 0)
    ranked = [r["factors"][0] for r in got["factors"]]
    assert ranked[0] == "noise" and got["factors"][0]["effect_ci"][0] > 0, json.dumps(got)
    noise = got["factors"][0]
    assert noise["target"] > 4 * noise["source"]


@pytest.mark.parametrize("sigma", [4.0, 12.0])
def test_noise_estimate_recovers_the_added_noise(sigma):
    from realitygap.diagnose.image_stats import noise_sigma

    yy, xx = np.mgrid[:96, :96]
    smooth = np.stack([100 + 60 * np.sin(xx / 9.0) * np.cos(yy / 13.0)] * 3, -1)       # structure, no noise
    noisy = smooth + np.random.default_rng(0).normal(0, sigma, (96, 96, 1))          # the same noise in each channel
    assert noise_sigma(np.clip(noisy, 0, 255).astype(np.uint8)) == pytest.approx(sigma, rel=0.12)


def test_statistics_follow_their_definitions_and_the_transforms_move_them():
    from realitygap.diagnose import image_stats as st
    from realitygap.diagnose import image_transplant as tr

    rng = np.random.default_rng(0)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128), indexing="ij"))
    field = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((128, 128))) / np.maximum(f, 1 / 128) ** 1.5))  # f^-3
    image = np.repeat(((field - field.min()) / np.ptp(field) * 200 + 20)[..., None], 3, -1).astype(np.uint8)
    assert st.spectrum_slope(image) == pytest.approx(-3.0, abs=0.25)
    assert st.spectrum_slope(tr.with_spectrum_slope(image, -2.5)) == pytest.approx(-2.5, abs=0.2)
    assert st.sharpness(tr.with_sharpness(image, st.sharpness(image) / 4)) < st.sharpness(image) / 2
    assert tr.with_noise(image, 10.0, rng).astype(float).std() > image.astype(float).std()
    assert st.noise_sigma(tr.with_noise(image, 10.0, rng)) == pytest.approx(10.0, rel=0.2)
    jpeg = tr.with_blockiness(image, 2.0)
    assert st.blockiness(jpeg) > 1.3 and st.blockiness(image) < 1.15
    target = {"mean": [50.0, 120.0, 200.0], "std": [10.0, 20.0, 30.0]}
    moved = tr.with_colour(image, st.domain_statistics(image[None])["colour"], target)
    assert np.allclose(moved.reshape(-1, 3).mean(0), target["mean"], atol=2)
    assert np.allclose(moved.reshape(-1, 3).std(0), target["std"], atol=2)


def test_rank_by_picks_the_ranking_the_policy_follows_and_keeps_the_others():
    from realitygap.diagnose.stage import ranking

    regions = [{"region": "fringe", "factors": ["seam_tint"], "score": 9.0},
               {"region": "seam", "factors": ["seam_stitch", "seam_contrast"], "score": 2.0},
               {"region": "table", "factors": ["table_photo"], "score": -1.0}]
    factors = {"fringe": ["seam_tint"], "seam": ["seam_stitch", "seam_contrast"], "table": ["table_photo"]}
    transplant = {"factors": [{"factors": ["seam_stitch"], "score_points": 9.4},
                              {"factors": ["seam_tint"], "score_points": 4.0},
                              {"factors": ["table_photo"], "score_points": -5.9}]}
    finetune = {"factors": [{"factors": ["seam_tint"], "gain_points": -1.0}, {"factors": ["table_photo"], "gain_points": 0.5},
                            {"factors": ["seam_contrast"], "gain_points": 2.5}]}
    evidence = {"transplant": transplant, "finetune": finetune}
    by_attribution = ranking(regions, factors, evidence, "attribution")
    assert by_attribution["ranked_causes"] == ["seam_tint", "seam_stitch", "seam_contrast"]
    assert by_attribution["transplant_ranking"] == ["seam_stitch", "seam_tint", "seam_contrast"]   # untried: after
    assert by_attribution["finetune_ranking"] == ["seam_contrast", "table_photo", "seam_stitch"]   # by gain, then untried
    by_transplant = ranking(regions, factors, evidence, "transplant")
    assert by_transplant["ranked_causes"] == by_attribution["transplant_ranking"]
    assert by_transplant["attribution_ranking"] == by_attribution["ranked_causes"]
    assert "score" in by_transplant["ranking_rule"]
    by_finetune = ranking(regions, factors, evidence, "finetune")
    assert by_finetune["ranked_causes"] == by_attribution["finetune_ranking"] and "gain" in by_finetune["ranking_rule"]
    without = ranking(regions, factors, {"transplant": None, "finetune": None}, "finetune")   # the evidence was not run
    assert without == {"ranked_causes": by_attribution["ranked_causes"], "ranking_rule": by_attribution["ranking_rule"]}
