"""Ablation experiments: the grid's expansion, the architecture and loss knobs, worst-group scores and the
spurious-correlation probe's renderer and measurements."""

import copy

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from realitygap.variants import expand_variants
from realitygap.experiments.groups import group_scores, image_groups
from realitygap.chapters.experiments import ablation_table, probe_table
from realitygap.io import InputError
from realitygap.losses import frequency_weights, loss_config
from realitygap.models import build_model
from realitygap.params import resolve
from realitygap.render.domain import SPURIOUS_TINT, DomainFactors, decoy_band, render_image, seam_fringe
from realitygap.render.raster import rasterize
from realitygap.render.scene import sample_scene
from tests.conftest import REPO, bench_classes

BASE = {"arch": "encdec", "base_channels": 8, "num_stages": 3}


def _params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def _resolve(params: dict) -> dict:
    return resolve(params, REPO / "workflow/schemas/params.schema.yaml")


def test_grid_expands_changes_and_every_combination():
    variants = expand_variants({"base": BASE, "changes": [{"name": "wide", "base_channels": 16}],
                                "grid": {"loss": ["ce", "dice"], "act": ["relu", "gelu"]}})
    assert list(variants) == ["base", "wide", "loss-ce__act-relu", "loss-ce__act-gelu", "loss-dice__act-relu",
                              "loss-dice__act-gelu"]
    assert variants["wide"] == BASE | {"base_channels": 16}
    assert variants["loss-dice__act-gelu"] == BASE | {"loss": "dice", "act": "gelu"}
    assert list(expand_variants({"base": BASE, "grid": {}})) == ["base"]         # an empty grid adds nothing


def test_two_variants_with_one_name_stop_the_run_naming_them():
    params = _params()
    params["experiments"]["changes"].append({"name": "ce", "loss": "dice"})
    with pytest.raises(InputError, match=r"\['ce'\]"):
        _resolve(params)


def test_a_variant_the_schema_rejects_is_named():
    params = _params()
    params["experiments"]["changes"].append({"name": "bad_act", "act": "swish"})
    params["experiments"]["grid"] = {"downsample": ["avgpool"]}
    with pytest.raises(InputError) as err:
        _resolve(params)
    assert "variant 'bad_act'" in str(err.value) and "variant 'downsample-avgpool'" in str(err.value)


def test_norm_off_on_an_arch_without_the_knob_is_refused():
    params = _params()
    params["experiments"]["changes"].append({"name": "fcn_nonorm", "arch": "fcn", "norm": False})
    with pytest.raises(InputError, match="fcn_nonorm"):
        _resolve(params)


def _build(**knobs) -> nn.Module:
    return build_model(BASE | knobs | {"num_classes": 3}, 48)


def _count(net: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in net.modules())


def _params_of(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_each_encoder_decoder_knob_changes_the_built_module():
    base = _build()
    assert _count(base, nn.BatchNorm2d) > 0 and _count(_build(norm=False), nn.BatchNorm2d) == 0
    strided = [m for m in _build(downsample="stride").backbone.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == 2 and not [m for m in base.backbone.modules()
                                      if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert _params_of(_build(skips=False)) < _params_of(base)                 # decoders read half the channels
    assert _params_of(_build(skip_mode="sum")) == _params_of(_build(skips=False))
    assert 3.5 < _params_of(_build(base_channels=16)) / _params_of(base) < 4.1   # width x2: ~4x the weights
    assert _count(_build(act="gelu"), nn.GELU) > 0 and _count(base, nn.GELU) == 0
    assert _count(_build(dropout=0.2), nn.Dropout2d) > _count(base, nn.Dropout2d)
    assert _params_of(_build(blocks=2)) > _params_of(base)
    residual = _build(residual=True)
    assert _params_of(residual) > _params_of(base)                          # 1x1 projections where widths change
    x = torch.randn(2, 3, 48, 48)
    for net in (base, residual, _build(skips=False), _build(downsample="stride", skip_mode="sum")):
        feats = net.eval().extract_feat(x)
        assert feats[-1].shape == (2, 8, 48, 48)


@pytest.mark.parametrize("arch", ["fcn", "deeplabv3plus", "segformer"])
def test_mmseg_architectures_build_from_scratch_and_segment_at_input_size(arch):
    from realitygap.models import forward_logits
    net = build_model({"arch": arch, "base_channels": 8, "num_classes": 3}, 64).eval()
    logits = forward_logits(net, torch.randint(0, 255, (1, 64, 64, 3), dtype=torch.uint8))
    assert logits.shape == (1, 3, 64, 64)


def test_weighted_cross_entropy_matches_the_hand_computed_value():
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    (cfg,) = loss_config([{"type": "ce", "weight": 2.0, "class_weight": [1.0, 2.0, 4.0]}])
    loss = MODELS.build(cfg)
    logits = torch.tensor([[[[2.0]], [[0.0]], [[-1.0]]], [[[0.5]], [[1.5]], [[0.0]]]])   # (2, 3, 1, 1)
    labels = torch.tensor([[[2]], [[1]]])
    logp = torch.log_softmax(logits, 1)
    # mmseg's weighted mean, as PyTorch's: divided by the labels' weights, (4 * -log p(2) + 2 * -log p(1)) / (4 + 2),
    # times the term's weight 2
    expected = 2.0 * (4 * -logp[0, 2, 0, 0] + 2 * -logp[1, 1, 0, 0]) / 6
    assert float(loss(logits, labels)) == pytest.approx(float(expected), rel=1e-5)


def test_loss_terms_become_a_weighted_sum_of_mmseg_losses():
    configs = loss_config([{"type": "ce", "weight": 0.5}, {"type": "dice", "weight": 2.0}])
    assert [(c["type"], c["loss_weight"]) for c in configs] == [("IgnoreAwareCrossEntropyLoss", 0.5), ("DiceLoss", 2.0)]
    assert loss_config("focal")[0]["type"] == "FocalLoss"
    with pytest.raises(ValueError, match="class_weight"):
        loss_config([{"type": "dice", "class_weight": [1, 1, 1]}])
    with pytest.raises(ValueError, match="frequency"):
        loss_config([{"type": "ce", "class_weight": "frequency"}])


def test_frequency_weights_are_median_frequency_balanced():
    masks = [np.array([[0, 0, 0, 0], [0, 0, 1, 1], [2, 255, 255, 255]], np.uint8)]   # 6, 2, 1 labelled pixels
    freq = np.array([6, 2, 1]) / 9
    assert frequency_weights(masks, 3) == pytest.approx(list(np.median(freq) / freq), rel=1e-5)
    (cfg,) = loss_config([{"type": "ce", "class_weight": "frequency"}], frequency_weights(masks, 3))
    assert cfg["class_weight"] == pytest.approx([1 / 3, 1.0, 2.0], rel=1e-4)


def test_worst_group_is_the_lowest_group_with_enough_images():
    truth = np.zeros((3, 2, 2), np.uint8)
    truth[:, 0, :] = 2
    preds = truth.copy()
    preds[2] = 0                                    # image 2 misses every seam pixel
    groups = [["domain=sim", "state=flat"], ["domain=sim", "state=folded"], ["domain=real", "state=folded"]]
    scores = group_scores(preds, truth, groups, bench_classes(), min_images=2)
    assert scores["groups"]["domain=real"] == {"mIoU": 25.0, "images": 1}   # towel 0, seam 0 of 2 classes: (50+0)/2
    assert scores["groups"]["domain=sim"]["mIoU"] == 100.0
    assert scores["worst_group"] == "state=folded"               # domain=real has one image: not eligible
    assert scores["worst_group_IoU"] == scores["groups"]["state=folded"]["mIoU"] < 100


def test_image_groups_read_the_render_metadata():
    meta = {"scene": {"towels": [{"state": "flat", "category": "washcloth"}, {"state": "folded", "category": "washcloth"}]},
            "factors": {"light_gradient": 0.5}}
    assert image_groups("real", meta, ["domain", "state", "towels", "category", "lighting"]) == [
        "domain=real", "state=flat", "state=folded", "towels=2", "category=washcloth", "lighting=uneven"]
    assert image_groups("photos", None, ["domain", "state"]) == ["domain=photos"]   # ingested data: no scene


def _rendered(tint_decoy: float, seed: int = 3):
    rng = np.random.default_rng(seed)
    scene = sample_scene(rng, 96, {"towels_min": 2, "towels_max": 2, "towel_size": [0.35, 0.5], "seam_width": [4.0, 6.0],
                                   "hem_inset": [2.0, 5.0], "inner_seam_prob": 0.0, "crumple": 0.0})
    raster = rasterize(scene)
    look = DomainFactors(seam_tint=1.0, tint_decoy=tint_decoy)
    return scene, raster, render_image(scene, raster, look, np.random.default_rng(0))


def _tinted(image: np.ndarray) -> np.ndarray:
    return np.all(np.abs(image.astype(int) - (SPURIOUS_TINT * 255 + 0.5).astype(int)) <= 1, axis=-1)


def test_the_probe_moves_the_tint_from_the_seam_fringe_to_the_decoy_band():
    scene, raster, beside = _rendered(0.0)
    _, _, moved = _rendered(1.0)
    fringe, band = seam_fringe(scene, raster), decoy_band(scene, raster)
    assert not (fringe & band).any() and band.sum() > 50
    assert (_tinted(beside) == fringe).all()
    assert (_tinted(moved) == band).all()


def test_ablation_deltas_are_paired_by_seed():
    def row(gap, test):
        return {"train_mIoU": 90.0, "mIoU_test": test, "worst_group_IoU": test - 10, "mIoU_on_target": 80 - gap,
                "target_on_target": 80.0, "gap_points": gap, "worst_group": "domain=real"}
    rows = {"base": {"seed0": row(20, 70), "seed1": row(30, 60)},
            "wide": {"seed0": row(18, 71), "seed1": row(28, 61)}}
    table = ablation_table(rows)
    assert table["wide"]["gap_points"] == 23.0 and table["wide"]["delta"]["gap_points"] == -2.0
    assert table["wide"]["delta_ci95"]["gap_points"] == [-2.0, -2.0]    # the same change at both seeds
    assert table["base"]["delta"]["mIoU_test"] == 0.0
    with pytest.raises(InputError, match="seed2"):
        ablation_table({"base": rows["base"], "wide": rows["wide"] | {"seed2": row(1, 1)}})


def test_probe_table_orders_by_strength_and_ranks_the_trend():
    def result(s, drop, mass):
        return {"strength": s, "mIoU_drop": drop, "seam_IoU_drop": 2 * drop,
                "scores": {"correlated": {"mIoU": 80.0}, "broken": {"mIoU": 80.0 - drop}},
                "attribution": {"mass_on_cue": mass, "cue_area_share": 0.1, "method": "gradcam"}}
    probe = probe_table([result(1.0, 9.0, 0.4), result(0.5, 1.0, 0.1), result(0.8, 4.0, 0.2)])
    assert [r["strength"] for r in probe["rows"]] == [0.5, 0.8, 1.0]
    assert probe["spearman_vs_strength"] == {"mIoU_drop": 1.0, "seam_IoU_drop": 1.0, "mass_on_cue": 1.0}


def test_params_profiles_carry_the_experiments():
    params = _params()
    for profile in ("default", "study", "tiny", "large"):
        cfg = _resolve(copy.deepcopy(params) | {"profile": profile})
        assert len(expand_variants(cfg["experiments"])) >= 2


def test_a_grid_entry_expands_to_exactly_the_expected_jobs(tmp_path):
    import re

    from tests.conftest import snakemake, write_params

    experiments = _params()["experiments"] | {
        "changes": [{"name": "wide", "base_channels": 32}], "grid": {"loss": ["ce", "dice"], "act": ["relu", "gelu"]},
        "seeds": 3, "explain_methods": ["gradcam", "saliency"]}
    work = write_params(tmp_path, profile="default", experiments=experiments)
    result = snakemake(work, "--dry-run", "results/experiments/ablations.json")
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.M))
    variants = 1 + 1 + 4                                  # base, the change, 2 x 2 grid combinations
    assert int(counts["train_variant"]) == variants * 3 * 2 == int(counts["evaluate_variant"])   # seeds x mixes
    assert int(counts["explain_variant"]) == variants * 2
    probe = len(experiments["probe"]["strengths"])
    assert int(counts["train_probe"]) == probe == int(counts["probe"])
    assert int(counts["render_probe"]) == 2 * probe + 2   # train and test per strength, broken, beside
