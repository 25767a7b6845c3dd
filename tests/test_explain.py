"""Our attribution maps against independent implementations on the same mmseg model and input."""

import numpy as np
import pytest
import torch
from torch import nn

from realitygap.explain import METHODS, GradCAM, Saliency, Target, build_targets, target_score
from realitygap.explain.base import Explainer
from realitygap.models import forward_logits, normalise


class Logits(nn.Module):
    """The mmseg model as a plain (N, 3, H, W) -> (N, C, H, W) module, for the peer libraries."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return forward_logits(self.net, x, normalised=True)


@pytest.fixture
def batch(small_model):
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (2, 48, 48, 3), dtype=np.uint8))
    with torch.no_grad():
        pred = forward_logits(small_model, images).argmax(1)
    present = [c for c in range(3) if (pred == c).any()]
    assert len(present) >= 2, "the fixture needs two predicted classes to test contrastive methods"
    return images, build_targets(pred, present, 3)


def test_gradcam_matches_pytorch_grad_cam(small_model, batch):
    from pytorch_grad_cam import GradCAM as PeerGradCAM
    from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

    images, targets = batch
    ours = GradCAM(small_model, "decode_head.conv_seg:input").explain(images, targets).numpy()
    x = normalise(small_model, images)
    with PeerGradCAM(model=Logits(small_model), target_layers=[small_model.decode_head.convs]) as cam:
        for t, target in enumerate(targets):
            peer = cam(input_tensor=x, targets=[SemanticSegmentationTarget(target.class_index, m.numpy())
                                                for m in target.region])
            assert ours[:, t].max() > 0
            np.testing.assert_allclose(ours[:, t], peer, atol=2e-3)


def test_gradcam_layer_input_equals_previous_output(small_model, batch):
    images, targets = batch
    a = GradCAM(small_model, "decode_head.conv_seg:input").explain(images, targets)
    b = GradCAM(small_model, "decode_head.convs").explain(images, targets)
    torch.testing.assert_close(a, b)


def test_saliency_matches_captum(small_model, batch):
    from captum.attr import Saliency as PeerSaliency

    images, targets = batch
    x = normalise(small_model, images)
    ours = Saliency(small_model).attribute(x, targets)
    for t, target in enumerate(targets):
        peer = PeerSaliency(lambda inp: target_score(forward_logits(small_model, inp, True), target))
        ref = peer.attribute(x.clone().requires_grad_(True), abs=True).amax(1)
        torch.testing.assert_close(ours[:, t], ref, rtol=1e-4, atol=1e-6)


def test_weights_never_change_and_bad_layer_is_named(small_model, batch):
    images, targets = batch
    small_model.zero_grad(set_to_none=True)     # the peers' backward() may have filled .grad
    before = {k: v.clone() for k, v in small_model.state_dict().items()}
    for cls in METHODS.values():
        cls(small_model, "decode_head.conv_seg:input").explain(images, targets)
    for k, v in small_model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert all(p.grad is None for p in small_model.parameters())
    with pytest.raises(ValueError, match="decode_head.nope"):
        GradCAM(small_model, "decode_head.nope").explain(images, targets)


def test_gradcam_focuses_on_the_target_region():
    """A toy model whose seam logit is the red channel: Grad-CAM at the input layer finds the red patch."""
    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Identity()

        def forward(self, x):
            f = self.features(x)
            return torch.stack([-f[:, 0], torch.zeros_like(f[:, 0]), f[:, 0]], 1)

    class ToyGradCAM(GradCAM):
        def logits(self, x):
            return self.net(x)

    x = torch.zeros(1, 3, 16, 16)
    x[:, 0, 4:8, 4:8] = 1.0
    explainer = ToyGradCAM(Toy(), "features")
    cam = explainer.attribute(x, [Target(2, torch.ones(1, 16, 16, dtype=torch.bool))])[0, 0]
    assert cam[4:8, 4:8].min() > 0 and cam.sum() == cam[4:8, 4:8].sum()


def peer_maps(peer_cls, net, images, targets, **kwargs):
    """pytorch-grad-cam's maps (N, T, H, W) for our targets, one call per target as it requires."""
    from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

    x = normalise(net, images)
    with peer_cls(model=Logits(net), target_layers=[net.decode_head.convs], **kwargs) as cam:
        return np.stack([cam(input_tensor=x, targets=[SemanticSegmentationTarget(t.class_index, m.numpy())
                                                      for m in t.region]) for t in targets], 1)


@pytest.mark.parametrize("name,peer", [("gradcampp", "GradCAMPlusPlus"), ("layercam", "LayerCAM"),
                                       ("scorecam", "ScoreCAM")])
def test_cam_family_matches_pytorch_grad_cam(small_model, batch, name, peer):
    import pytorch_grad_cam

    images, targets = batch
    ours = METHODS[name](small_model, "decode_head.conv_seg:input").explain(images, targets).numpy()
    ref = peer_maps(getattr(pytorch_grad_cam, peer), small_model, images, targets)
    assert ours.max() > 0
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def score_fn(net, target, interleaved=False):
    """A captum forward: the target score per row of a batch that captum may have expanded, row by
    row (`interleaved`, as NoiseTunnel does) or batch by batch (as IntegratedGradients does)."""
    n = len(target.region)

    def forward(inp):
        rows = torch.arange(len(inp))
        return target_score(forward_logits(net, inp, True), target, rows // (len(inp) // n) if interleaved
                            else rows % n)
    return forward


def test_integrated_gradients_matches_captum(small_model, batch):
    from captum.attr import IntegratedGradients as PeerIG

    images, targets = batch
    x = normalise(small_model, images)
    ours = METHODS["integrated_gradients"](small_model, steps=12).attribute(x, targets)
    for t, target in enumerate(targets):
        ref = PeerIG(score_fn(small_model, target)).attribute(x, baselines=torch.zeros_like(x), n_steps=12,
                                                              method="gausslegendre")
        torch.testing.assert_close(ours[:, t], ref.sum(1).abs(), rtol=1e-3, atol=1e-4)


def test_occlusion_matches_captum(small_model, batch):
    from captum.attr import Occlusion as PeerOcclusion

    images, targets = batch
    x = normalise(small_model, images)
    ours = METHODS["occlusion"](small_model, window=8, stride=4, batch_size=16).attribute(x, targets)
    for t, target in enumerate(targets):
        ref = PeerOcclusion(score_fn(small_model, target)).attribute(
            x, sliding_window_shapes=(3, 8, 8), strides=(3, 4, 4), baselines=0)
        torch.testing.assert_close(ours[:, t], ref[:, 0], rtol=1e-3, atol=1e-3)


def brute_force_shapley(f, players: int) -> np.ndarray:
    """Shapley values by their definition: weighted marginal contributions over all subsets."""
    import functools
    import itertools
    import math

    phi = np.zeros(players)
    f = functools.lru_cache(maxsize=None)(f)
    for j in range(players):
        for subset in itertools.product([0, 1], repeat=players):
            if subset[j]:
                continue
            k = sum(subset)
            with_j = list(subset)
            with_j[j] = 1
            weight = math.factorial(k) * math.factorial(players - k - 1) / math.factorial(players)
            phi[j] += weight * (f(tuple(with_j)) - f(subset))
    return phi


def test_kernelshap_is_exact_and_agrees_with_captum(small_model, batch):
    """Six superpixels: we enumerate all 64 coalitions, which must give the exact Shapley values (the
    definition, computed by brute force); captum's KernelShap samples 4000 coalitions, so it must
    agree up to its sampling error."""
    from captum.attr import KernelShap

    images, targets = batch
    x = normalise(small_model, images)
    labels = np.zeros((len(x), 48, 48), np.int64)
    for k in range(6):
        labels[:, (k // 3) * 24:(k // 3 + 1) * 24, (k % 3) * 16:(k % 3 + 1) * 16] = k
    ours = METHODS["kernelshap"](small_model, baseline="zeros", samples=64).shapley_values(x, targets, labels)
    torch.manual_seed(0)
    for t, target in enumerate(targets):
        for i in range(len(x)):      # captum's KernelShap explains one image per call
            one = Target(target.class_index, target.region[i:i + 1])
            score = score_fn(small_model, one)

            def f(subset):
                keep = torch.from_numpy(np.array(subset)[labels[i]]).float()
                with torch.no_grad():
                    return float(score(x[i:i + 1] * keep))
            exact = brute_force_shapley(f, 6)
            got = np.array([float(ours[i, t][torch.from_numpy(labels[i] == k)][0]) for k in range(6)])
            np.testing.assert_allclose(got, exact, rtol=1e-3, atol=1e-3 * np.abs(exact).max())
            if i or t:
                continue        # captum's sampling is slow: one image and target suffice
            ref = KernelShap(score).attribute(x[i:i + 1], baselines=0, n_samples=4000, perturbations_per_eval=200,
                                              feature_mask=torch.from_numpy(labels[i:i + 1, None]))
            peer = np.array([float(ref[0, 0][torch.from_numpy(labels[i] == k)][0]) for k in range(6)])
            assert np.corrcoef(got, peer)[0, 1] > 0.95, (got, peer)


def test_smoothgrad_agrees_with_captum_noise_tunnel(small_model, batch):
    """Both average |gradient| over random noise: equal in expectation, so ours must agree with
    captum as well as ours agrees with itself under another seed."""
    from captum.attr import NoiseTunnel, Saliency as PeerSaliency

    images, targets = batch
    x = normalise(small_model, images)
    ours = METHODS["smoothgrad"](small_model, samples=64, noise=0.15).attribute(x, targets)
    again = METHODS["smoothgrad"](small_model, samples=64, noise=0.15, seed=1).attribute(x, targets)
    for t, target in enumerate(targets):
        sigma = float(0.15 * (x.max() - x.min()))
        ref = NoiseTunnel(PeerSaliency(score_fn(small_model, target, interleaved=True))).attribute(
            x, nt_type="smoothgrad", nt_samples=64, stdevs=sigma, abs=True).amax(1)
        r = np.corrcoef(ours[:, t].flatten().numpy(), ref.flatten().numpy())[0, 1]
        ceiling = np.corrcoef(ours[:, t].flatten().numpy(), again[:, t].flatten().numpy())[0, 1]
        assert r > ceiling - 0.03, f"SmoothGrad vs captum: correlation {r:.3f}, ours vs ours {ceiling:.3f}"


class Linear(nn.Module):
    """Toy model: logits = W @ features at every pixel, features = the input."""

    def __init__(self, weight):
        super().__init__()
        self.features = nn.Identity()
        self.weight = torch.tensor(weight, dtype=torch.float32)

    def forward(self, x):
        return torch.einsum("ck,nkhw->nchw", self.weight, self.features(x))


def toy_explainer(cls, net):
    class Toy(cls):
        def logits(self, x):
            return self.net(x)
    return Toy(net, "features")


@pytest.mark.parametrize("name,expected", [
    ("gradcam", [1.0, 1.0, 1.0, 0.0]),
    ("minmax_cam", [0.5, 2.0, 2.0, 0.0]),           # W2 - (W0 + W1) / 2 = (0.5, 2, 2)
    ("dminmax_gradcam", [0.5, 2 / 3, 2 / 3, 0.0]),  # ReLU(W2) - ReLU(W0 + W1)/2 + min(0, W0 + W1 + W2)/3
])
def test_minmax_cams_follow_their_formulas_by_hand(name, expected):
    """Channel k is 1 in quadrant k (TL, TR, BL) and the class logits are W @ channels, so each
    map is the channel weight of its quadrant, computed by hand from W."""
    weight = [[1, -3, 0], [0, 1, -2], [1, 1, 1]]
    x = torch.zeros(1, 3, 8, 8)
    x[:, 0, :4, :4] = x[:, 1, :4, 4:] = x[:, 2, 4:, :4] = 1
    full = torch.ones(1, 8, 8, dtype=torch.bool)
    targets = build_targets(torch.zeros(1, 8, 8, dtype=torch.long), [2], 3)
    for other in targets[0].others:
        other.region = full
    targets[0].region = full
    cam = toy_explainer(METHODS[name], Linear(weight)).attribute(x, targets)[0, 0]
    got = [cam[:4, :4].mean(), cam[:4, 4:].mean(), cam[4:, :4].mean(), cam[4:, 4:].mean()]
    np.testing.assert_allclose(torch.stack(got).numpy(), expected, rtol=1e-5)


def test_minmax_without_other_classes_is_gradcam(small_model, batch):
    images, targets = batch
    alone = [Target(t.class_index, t.region) for t in targets]
    a = METHODS["minmax_cam"](small_model, "decode_head.conv_seg:input").explain(images, alone)
    b = GradCAM(small_model, "decode_head.conv_seg:input").explain(images, alone)
    torch.testing.assert_close(a, b)


def test_rise_finds_the_patch_the_model_reads_and_is_seeded():
    """The seam confidence rises with the red channel inside one patch only: RISE must peak there."""
    class Patch(nn.Module):
        def forward(self, x):
            seam = torch.zeros_like(x[:, 0])
            seam[:, 8:16, 8:16] = 4 * x[:, 0, 8:16, 8:16]
            return torch.stack([torch.zeros_like(seam), torch.zeros_like(seam), seam], 1)

    x = torch.ones(1, 3, 32, 32)
    region = torch.zeros(1, 32, 32, dtype=torch.bool)
    region[:, 8:16, 8:16] = True
    target = [Target(2, region)]
    rise = toy_explainer(METHODS["rise"], Patch())
    rise.opts.update(masks=400, cells=4)
    sal = rise.attribute(x, target)[0, 0]
    assert sal[8:16, 8:16].mean() > sal[20:, 20:].mean() + 0.05
    torch.testing.assert_close(sal, rise.attribute(x, target)[0, 0])


def test_activations_record_features_and_channel_statistics(small_model, batch):
    images, targets = batch
    layers = ["decode_head.convs", "backbone.encoder.0"]
    explainer = METHODS["activations"](small_model, layers=layers)
    maps = explainer.explain(images, targets)
    feats = explainer.extras["features"]["decode_head.convs"]
    stats = explainer.extras["channel_statistics"]["decode_head.convs"]
    assert set(explainer.extras["features"]) == set(layers) and maps.shape[1] == len(targets)
    np.testing.assert_allclose(stats["mean"], feats.mean(dim=(0, 2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats["positive"], (feats > 0).float().mean(dim=(0, 2, 3)).numpy(), atol=1e-6)


def test_box_targets_and_unknown_options_are_explicit():
    labels = torch.full((1, 8, 8), 2)
    (target,) = build_targets(labels, [2], 3, box=(2, 1, 5, 4))
    assert target.region.sum() == 9 and target.region[0, 1:4, 2:5].all()
    with pytest.raises(ValueError, match="unknown options \\['stpes'\\]"):
        METHODS["integrated_gradients"](nn.Identity(), stpes=4)
