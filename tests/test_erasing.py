"""The tag classifier's second stage (Puzzle-CAM, OC-CSE's class-specific erasing, P-NOC's adversarial ordinary
classifier): tiles put back in place, the erasing mask, the losses against their formulas, and which weights
each step may change."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmseg.structures import SegDataSample

from realitygap.io import InputError
from realitygap.pseudolabel import erasing
from realitygap.pseudolabel.classifier import classifier_config

MODEL = {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 3}


def _identity_net() -> SimpleNamespace:
    """A stand-in whose class maps are its inputs: tiling must give the image back."""
    return SimpleNamespace(extract_feat=lambda x: x, decode_head=SimpleNamespace(class_maps=lambda f: f))


@pytest.mark.parametrize("tiles, shape", [(2, (2, 3, 8, 12)), (3, (1, 2, 9, 6))])
def test_puzzle_maps_put_every_tile_back_where_it_came_from(tiles, shape):
    x = torch.arange(np.prod(shape), dtype=torch.float32).view(shape)
    assert torch.equal(erasing.puzzle_maps(_identity_net(), x, tiles), x)
    with pytest.raises(ValueError, match="do not split"):
        erasing.puzzle_maps(_identity_net(), x[..., :-1], tiles)


def test_the_erasing_mask_is_the_chosen_class_map_rectified_and_divided_by_its_maximum():
    maps = torch.tensor([[[[-1.0, 2.0], [4.0, 0.0]], [[3.0, 3.0], [0.0, 6.0]]]]).repeat(2, 1, 1, 1)
    mask = erasing.normalised_map(maps, torch.tensor([0, 1]), (2, 2))
    np.testing.assert_allclose(mask[0, 0].numpy(), [[0.0, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(mask[1, 0].numpy(), [[0.5, 0.5], [0.0, 1.0]])
    assert erasing.normalised_map(torch.zeros(1, 2, 3, 3), torch.tensor([1]), (6, 6)).abs().max() == 0


def test_the_erased_class_is_drawn_among_the_image_s_tags_only():
    torch.manual_seed(0)
    tags = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    draws = torch.stack([erasing.random_tagged_class(tags)[0] for _ in range(400)])
    assert set(draws[:, 0].tolist()) == {0, 2} and abs((draws[:, 0] == 0).float().mean() - 0.5) < 0.1
    assert set(draws[:, 2].tolist()) == {1}
    assert erasing.random_tagged_class(tags)[1].tolist() == [True, False, True]


def _model(**options) -> erasing.ErasingTagClassifier:
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    torch.manual_seed(0)
    return erasing.ErasingTagClassifier(classifier_config(MODEL, 16), **options)


def _batch(tags: list[list[float]]) -> dict:
    g = torch.Generator().manual_seed(1)
    samples = [SegDataSample(metainfo={"tags": np.array(t, np.float32)}) for t in tags]
    return {"inputs": [torch.randint(0, 256, (3, 16, 16), generator=g, dtype=torch.uint8) for _ in tags],
            "data_samples": samples}


def _weights(net: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in net.state_dict().items() if v.is_floating_point()}


def _changed(before: dict, net: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in net.state_dict().items() if k in before)


@pytest.mark.parametrize("ordinary", ["fixed", "adversarial"])
def test_a_step_changes_the_ordinary_classifier_only_when_it_is_adversarial(ordinary):
    model = _model(ordinary=ordinary)
    model.train()
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=0.01))
    classifier, oc = _weights(model.classifier), _weights(model.ordinary)
    logs = model.train_step(_batch([[1, 1], [1, 0], [0, 0]]), optim)
    assert _changed(classifier, model.classifier)
    assert _changed(oc, model.ordinary) == (ordinary == "adversarial")
    assert {"loss_cls", "loss_re_cls", "loss_re", "loss_cse"} <= set(logs)
    assert ("loss_noc" in logs) == (ordinary == "adversarial")
    assert not any(p.requires_grad for p in model.ordinary.parameters())


def test_the_ordinary_classifier_s_loss_sends_no_gradient_into_the_classifier():
    model = _model(ordinary="adversarial")
    model.ordinary.requires_grad_(True)
    batch = model.data_preprocessor(_batch([[1, 1], [0, 1]]), True)
    tags = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    sum(model.ordinary_losses(batch["inputs"], tags).values()).backward()
    assert all(p.grad is None for p in model.classifier.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.ordinary.parameters())


def test_the_erasing_loss_matches_its_formula_and_reaches_the_classifier_through_the_mask():
    model = _model(puzzle_weight=0.0, cse_weight=2.0)
    model.eval()
    batch = model.data_preprocessor(_batch([[0, 1], [1, 0]]), False)   # one tag each: the erased class is known
    x, tags = batch["inputs"], torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    losses = model.classifier_losses(x, tags)
    with torch.no_grad():                      # the same by hand, in numpy where it can be
        maps = erasing.class_maps(model.classifier, x).numpy()
        chosen = np.maximum(maps[[0, 1], [1, 0]], 0)
        mask = chosen / chosen.reshape(2, -1).max(1)[:, None, None]
        erased = x * torch.from_numpy(1 - mask[:, None]).float()
        logits = erasing.class_maps(model.ordinary, erased).mean((2, 3)).numpy()
    remaining = np.zeros((2, 2))
    bce = np.mean(np.maximum(logits, 0) - logits * remaining + np.log1p(np.exp(-np.abs(logits))))
    assert float(losses["loss_cse"]) == pytest.approx(2.0 * bce, rel=1e-4)
    assert set(losses) == {"loss_cls", "loss_cse"}
    losses["loss_cse"].backward()               # the ordinary classifier is frozen: the mask is the only path
    assert model.classifier.decode_head.conv_seg.weight.grad.abs().sum() > 0


def test_puzzle_tiles_that_do_not_fit_the_model_s_stride_are_refused(tmp_path):
    from realitygap.pseudolabel.classifier import _train_erasing
    from tests.conftest import bench_classes

    cfg = {"erasing": {"iters": 1, "puzzle_tiles": 5, "puzzle_weight": 1.0, "cse_weight": 1.0, "ordinary": "fixed",
                       "noc_weight": 1.0, "noc_threshold": 0.4}, "checkpoint_interval": 1}
    with pytest.raises(InputError, match="puzzle_tiles"):
        _train_erasing({}, MODEL, cfg, 48, [], tmp_path, 0, bench_classes(), "cpu")


def _numpy_c2am(features: np.ndarray, logits: np.ndarray, hints: np.ndarray, weight: float) -> dict:
    """C²AM-H's losses written out in numpy, loop by loop."""
    a = 1 / (1 + np.exp(-logits[:, 0]))
    unit = lambda v: v / np.linalg.norm(v)                                        # noqa: E731
    fg = [unit((f * w).sum((1, 2)) / w.sum()) for f, w in zip(features, a)]
    bg = [unit((f * (1 - w)).sum((1, 2)) / (1 - w).sum()) for f, w in zip(features, a)]
    n = len(features)
    pos = lambda v: np.mean([-np.log(max(v[i] @ v[j], 1e-4)) for i in range(n) for j in range(n) if i != j])  # noqa: E731
    neg = np.mean([-np.log(max(1 - fg[i] @ bg[j], 1e-4)) for i in range(n) for j in range(n)])
    z, t = logits[:, 0][hints != 255], hints[hints != 255] == 1
    hint = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))
    return {"loss_pos_fg": pos(fg), "loss_pos_bg": pos(bg), "loss_neg": neg, "loss_hint": weight * hint}


def test_c2am_h_losses_match_their_formulas():
    from realitygap.pseudolabel.saliency import contrastive_losses

    g = torch.Generator().manual_seed(0)
    features, logits = torch.rand(3, 5, 6, 7, generator=g), torch.randn(3, 1, 6, 7, generator=g)
    hints = torch.randint(0, 3, (3, 6, 7), generator=g).masked_fill_(torch.rand(3, 6, 7, generator=g) > 0.6, 255)
    hints[hints == 2] = 1
    got = {k: float(v) for k, v in contrastive_losses(features, logits, hints, 0.5).items()}
    want = _numpy_c2am(features.numpy().astype(np.float64), logits.numpy().astype(np.float64), hints.numpy(), 0.5)
    assert got == pytest.approx(want, rel=1e-4)


def test_hints_mark_pixels_whose_strongest_class_map_passes_the_threshold():
    from realitygap.pseudolabel.saliency import BACKGROUND, FOREGROUND, UNHINTED, hint_maps

    priors = torch.tensor([[[[0.35, 0.35, 0.3]], [[0.2, 0.5, 0.05]], [[0.45, 0.1, 0.02]]]])   # background, 2 classes
    assert hint_maps(priors, 0.4, 0.1).tolist() == [[[FOREGROUND, FOREGROUND, BACKGROUND]]]
    assert hint_maps(priors, 0.47, 0.03).tolist() == [[[UNHINTED, FOREGROUND, UNHINTED]]]


def test_the_saliency_net_learns_the_whole_object_from_hints_on_part_of_it(tmp_path):
    """Bright squares on dark noise, hinted as foreground on their left halves only (the right halves unhinted,
    the rest background): the trained map covers the right halves too and leaves the background out."""
    from realitygap.pseudolabel.stage import saliency_background
    from tests.conftest import bench_classes

    rng = np.random.default_rng(0)
    images = rng.integers(0, 60, (16, 32, 32, 3)).astype(np.uint8)
    truth = np.zeros((16, 32, 32), bool)
    prior = np.zeros((16, 3, 32, 32), np.float32)
    for i in range(16):
        y, x = rng.integers(2, 14, 2)
        images[i, y:y + 16, x:x + 16] = rng.integers(180, 255, 3)
        truth[i, y:y + 16, x:x + 16] = True
        prior[i, 1, y:y + 16, x:x + 16] = 0.3                                      # unsure on the right half,
        prior[i, 1, y:y + 16, x:x + 8] = 1.0                                       # sure on the left
    # lr 0.01 stalled with 2 threads (0.29 on the right halves) and learned with 1; 0.02 learns with both
    cfg = {"iters": 200, "batch_size": 8, "lr": 0.02, "weight_decay": 0.0, "hint_threshold": 0.5, "background_threshold": 0.1,
           "hint_weight": 1.0}
    out = saliency_background(MODEL, cfg, 32, images, prior, tmp_path, 0, bench_classes(), "cpu")
    fg = 1 - out[:, 0]
    right = truth & (prior[:, 1] < 0.5)
    assert fg[right].mean() > 0.7 and fg[~truth].mean() < 0.3
    np.testing.assert_array_equal(out[:, 1:], prior[:, 1:])
