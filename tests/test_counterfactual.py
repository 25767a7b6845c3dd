"""The counterfactual map generator on a toy model whose answer depends on one known patch."""

import numpy as np
import pytest
import torch
from torch import nn

from realitygap.counterfactual import FrozenModel, Task, judge
from realitygap.explain import METHODS, Target
from realitygap.explain.counterfactual import build_task
from realitygap.models import MEAN, STD

CORNERS = [(4, 6), (20, 18), (10, 22), (22, 4)]     # where each image's marker lies


class MarkerModel(nn.Module):
    """Seam everywhere when the red channel inside the image's green marker is bright (mean pixel
    above ~95), else towel: the answer depends on one known region of each image."""

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        self.features(x)                                      # what G reads besides the image
        marker = (x[:, 1:2] > 1.0).float().detach()         # green above ~173
        red = (x[:, :1] * marker).sum((1, 2, 3)) / marker.sum((1, 2, 3)).clamp(min=1)
        seam = (3 * (red + 0.5))[:, None, None, None].expand(-1, 1, *x.shape[-2:])
        return torch.cat([torch.full_like(seam, -1.0), torch.zeros_like(seam), seam], 1)


def marker_regions(size=32):
    region = np.zeros((len(CORNERS), size, size), bool)
    for i, (y, x) in enumerate(CORNERS):
        region[i, y:y + 8, x:x + 8] = True
    return region


def toy(net, **options):
    class Toy(METHODS["counterfactual"]):
        def logits(self, x):
            return self.net(x)
    return Toy(net, "features", batch_size=4, seed=0, **options)


def grey_images(n=4, size=32, level=60):
    """Grey noisy images, each with a green 8x8 marker (red 60) at its corner of CORNERS."""
    rng = np.random.default_rng(0)
    images = np.clip(level + rng.normal(0, 4, (n, size, size, 3)), 0, 255)
    images[..., 1][marker_regions(size)[:n]] = 200
    return torch.from_numpy(images.astype(np.uint8))


def whole_image_target(n, size=32):
    return [Target(2, torch.ones(n, size, size, dtype=torch.bool))]


def test_maps_concentrate_on_the_region_the_model_reads_and_flip_it():
    net = MarkerModel()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    explainer = toy(net, iters=150)
    maps = explainer.explain(grey_images(), whole_image_target(4)).numpy()
    rows = explainer.extras["counterfactual"]["rows"]
    assert [r["direction"] for r in rows] == ["add"] * 4
    assert explainer.extras["counterfactual"]["flip_rate"] == 1.0
    assert all(r["flipped"] and r["agreement_before"] == 0 and r["agreement_after"] == 1 for r in rows)
    # the marker is 1/16 of the image; the threshold of the proof: at least 80 % of |M| lies on it
    region = marker_regions()
    share = (maps[:, 0] * region).sum((1, 2)) / maps[:, 0].sum((1, 2))
    assert share.min() >= 0.8, share
    moved = explainer.extras["arrays"]["counterfactual"][:, 0]
    assert moved[region][:, 0].mean() > 95 > grey_images().numpy()[region][:, 0].mean()
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert all(p.requires_grad for p in net.parameters())


def test_a_zero_map_or_an_answer_already_given_never_counts_as_a_flip():
    net = MarkerModel()
    explainer = toy(net, iters=0)             # the generator starts at M = 0
    explainer.explain(grey_images(), whole_image_target(4))
    rows = explainer.extras["counterfactual"]["rows"]
    assert explainer.extras["counterfactual"]["flip_rate"] == 0.0
    assert all(not r["flipped"] and r["mean_abs_change"] == 0 for r in rows)

    bright = torch.full((1, 3, 8, 8), 2.0)    # the model already sees the seam everywhere
    model = FrozenModel(net, lambda x: (net(x), net.features(x)))
    target = torch.full((1, 8, 8), 2, dtype=torch.long)
    task = Task(torch.zeros(1, dtype=torch.long), target, torch.ones(1, 8, 8, dtype=torch.bool), target.clone())
    change = torch.full((1, 3, 8, 8), 0.5)    # a real change, but the answer was already the target
    verdict = judge(model, bright, task, change, share=0.5)
    assert verdict["before"].item() == 1.0 and not verdict["flipped"].item()
    tiny = torch.full((1, 3, 8, 8), 1e-4)     # below half a grey level: no change at all
    task_dark = Task(task.image, target, task.region, torch.ones(1, 8, 8, dtype=torch.long))
    assert not judge(model, torch.full((1, 3, 8, 8), 2.0), task_dark, tiny, share=0.5)["flipped"].item()


def test_auto_direction_adds_a_missed_class_and_removes_a_seen_one_to_the_runner_up():
    logits = torch.zeros(2, 3, 4, 4)
    logits[0, 1] = 2.0                        # image 0: towel everywhere (no seam seen)
    logits[1, 2] = 2.0                        # image 1: seam everywhere, background runner-up
    logits[1, 0] = 1.0
    region = torch.zeros(2, 4, 4, dtype=torch.bool)
    region[:, 1:3, 1:3] = True
    task, rows = build_task(logits, [Target(2, region)], "auto", 0.5)
    assert [r["direction"] for r in rows] == ["add", "remove"]
    assert (task.target[0][region[0]] == 2).all() and (task.target[0][~region[0]] == 1).all()
    assert (task.target[1][region[1]] == 0).all() and (task.target[1][~region[1]] == 2).all()
    empty = [Target(2, torch.zeros(2, 4, 4, dtype=torch.bool))]
    assert build_task(logits, empty, "auto", 0.5)[1] == []
    with pytest.raises(ValueError, match="direction"):
        build_task(logits, [Target(2, region)], "sideways", 0.5)


def test_pixel_units_follow_the_model_normalisation():
    from realitygap.counterfactual import to_pixels
    one = torch.ones(1, 3, 1, 1)
    assert to_pixels(one).flatten().tolist() == pytest.approx(STD)
    assert len(MEAN) == 3


def test_targets_without_a_region_keep_the_image_and_answer():
    net = MarkerModel()
    explainer = toy(net, iters=2)
    empty = [Target(2, torch.zeros(4, 32, 32, dtype=torch.bool))]
    maps = explainer.explain(grey_images(), empty)
    arrays = explainer.extras["arrays"]
    assert explainer.extras["counterfactual"] == {"rows": [], "flip_rate": None} and not maps.any()
    assert np.array_equal(arrays["counterfactual"][:, 0], grey_images().numpy())
    assert np.array_equal(arrays["after"][:, 0], arrays["before"])
