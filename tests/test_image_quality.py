"""FID, KID and Inception Score on our own model's features against torchmetrics given the same extractor."""

import numpy as np
import pytest
import torch
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from realitygap.io import InputError
from realitygap.score.image_quality import (ModelFeatures, frechet_distance, inception_score, kernel_distance,
                                            run_image_quality)

LAYERS = ["backbone.encoder.1", "backbone.encoder.2", "decode_head.conv_seg:input"]


def images(seed, n=24, shift=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 200, (n, 3, 48, 48)) + shift
    return torch.from_numpy(np.clip(base, 0, 255).astype(np.uint8))


@pytest.fixture
def extractor(small_model):
    return ModelFeatures(small_model, LAYERS)


def test_fid_and_kid_match_torchmetrics_with_our_features(extractor):
    real, fake = images(0), images(1, n=20, shift=40)
    a, b = extractor(real).numpy(), extractor(fake).numpy()
    fid = FrechetInceptionDistance(feature=extractor, input_img_size=(3, 48, 48))
    fid.update(real, real=True)
    fid.update(fake, real=False)
    assert frechet_distance(a, b) == pytest.approx(fid.compute().item(), rel=1e-4)
    kid = KernelInceptionDistance(feature=extractor, subsets=1, subset_size=20)
    kid.update(real[:20], real=True)
    kid.update(fake, real=False)
    ours, _ = kernel_distance(a[:20], b, subsets=1, subset_size=20)
    assert ours == pytest.approx(kid.compute()[0].item(), rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(a, b) > frechet_distance(a[:12], a[12:])     # shifted images are farther


def test_inception_score_matches_torchmetrics_on_our_class_probabilities(extractor):
    x = images(2)

    class LogProbs(torch.nn.Module):
        def forward(self, batch):
            return extractor.class_log_probs(batch)

    peer = InceptionScore(feature=LogProbs(), splits=1)
    peer.update(x)
    ours, _ = inception_score(extractor.class_log_probs(x).numpy(), splits=1)
    assert ours == pytest.approx(peer.compute()[0].item(), rel=1e-6)
    uniform = np.log(np.full((10, 3), 1 / 3))
    assert inception_score(uniform, 2)[0] == pytest.approx(1.0)       # no confident class: IS 1
    certain = np.log(np.eye(3)[np.arange(9) % 3] * (1 - 2e-9) + 1e-9)
    assert inception_score(certain, 1)[0] == pytest.approx(3.0, rel=1e-3)   # 3 classes, each certain


def test_kid_needs_two_images_and_the_stage_writes_every_set(rendered, small_model, tmp_path):
    with pytest.raises(InputError, match="at least 2"):
        kernel_distance(np.zeros((1, 4)), np.zeros((5, 4)), 1, 10)
    from realitygap.models import save_weights
    weights = tmp_path / "model.pth"
    save_weights(small_model, weights)
    cfg = {"layers": LAYERS, "kid_subsets": 5, "kid_subset_size": 8, "is_splits": 2}
    (sim, sim_split), (real, real_split) = rendered["sim"], rendered["real"]
    out = run_image_quality(str(weights), {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 3}, 48,
                            {"dataset": str(real), "split": str(real_split)},
                            {"sim": {"dataset": str(sim), "split": str(sim_split)},
                             "real test": {"dataset": str(real), "split": str(real_split), "subset": "test"}},
                            cfg, tmp_path / "quality.json", device="cpu")
    assert set(out["sets"]) == {"sim", "real test"} and out["features"]["dims"] == 16 + 32 + 8
    assert out["sets"]["real test"]["fid"] < out["sets"]["sim"]["fid"]
    assert all(1 <= v["is"] <= 3 and v["kid_std"] >= 0 for v in out["sets"].values())
