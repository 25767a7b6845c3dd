"""Our attribution maps against independent implementations on the same mmseg model and input."""

import numpy as np
import pytest
import torch
from torch import nn

from realitygap.explain import METHODS, GradCAM, Saliency, Target, target_score
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
    targets = [Target(c, pred == c) for c in range(3) if (pred == c).any()]
    return images, targets


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
