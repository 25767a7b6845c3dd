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


def test_planted_single_factor_is_the_transplant_s_strongest(tmp_path):
    """A user's renderer (the sock generator as a command plugin) and a model trained on one look: only the toe's
    contrast decides whether the toe is seen, the noise barely matters. Transplanting the other look's factors one
    at a time must rank toe_contrast first, with an interval above zero, and leave noise near zero."""
    import json
    import sys
    from pathlib import Path

    from realitygap.classes import ClassSet
    from realitygap.diagnose.transplant import transplant_effects
    from realitygap.models import load_model
    from realitygap.renderers import render_look
    from realitygap.split import run_split
    from realitygap.train import run_train
    from tests.byo_task import CLASSES

    plugin = Path(__file__).with_name("byo_task.py")
    renderer = {"type": "command", "command": f"{sys.executable} {plugin} {{params}} {{out}} {{seed}}"}
    render = {"size": 48, "scene": {}, "classes": CLASSES}
    looks = {"source": {"noise": 2.0, "toe_contrast": 1.0}, "target": {"noise": 4.0, "toe_contrast": 0.0}}
    data = render_look(renderer, render, {"factors": looks["source"]}, 32, "source", 0, tmp_path / "sim", "sim")
    run_split(data, {"train": 0.9, "val": 0.1, "test": 0.0}, 0, tmp_path / "split.json")
    model = {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 4}
    src = [{"dataset": str(data), "split": str(tmp_path / "split.json"), "fraction": 1.0}]
    run_train(src, src, model, {"iters": 150, "batch_size": 4, "lr": 0.003, "weight_decay": 0.0, "checkpoint_interval": 150,
                                "loss": [{"type": "ce", "class_weight": "frequency"}]}, 48, 0, tmp_path / "model", device="cpu")
    net = load_model(tmp_path / "model/model.pth", model, 48, "cpu")
    got = transplant_effects(net, renderer, render, looks, {"source": "sim", "target": "real"}, ["noise", "toe_contrast"],
                             ClassSet.from_json(CLASSES), {"count": 12, "pairs": 2, "bootstrap": 200}, 1)
    first, second = got["factors"]
    assert first["factors"] == ["toe_contrast"] and first["effect_ci"][0] > 0, json.dumps(got)
    assert abs(second["effect_points"]) < first["effect_points"] / 3
    assert got["pairs"][0]["factors"] == ["toe_contrast", "noise"] and got["look_gap_points"] > 0
