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
