"""Explanations of detected instances (Mask R-CNN): D-RISE, instance Grad-CAM, matching by IoU."""

import numpy as np
import pytest
import torch

from realitygap.explain import INSTANCE_METHODS, InstanceTarget, match_instances
from realitygap.explain.drise import DRISE, drise_weights


def test_drise_weights_follow_the_similarity_by_hand():
    target = InstanceTarget(0, 1, torch.tensor([0.0, 0.0, 10.0, 10.0]))
    detections = [
        {"boxes": torch.tensor([[0.0, 0.0, 10.0, 5.0], [0.0, 0.0, 10.0, 10.0]]), "scores": torch.tensor([0.9, 0.3]),
         "labels": torch.tensor([1, 2])},          # IoU 0.5 * score 0.9 (same label); other label -> 0
        {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)},
    ]
    np.testing.assert_allclose(drise_weights([target], detections).numpy(), [[0.45], [0.0]], rtol=1e-6)


def test_drise_peaks_on_the_pixels_the_detector_needs():
    """A toy detector finds the object at (8..16, 8..16) with a score equal to how visible it is."""
    box = torch.tensor([8.0, 8.0, 16.0, 16.0])

    def detector(x):
        visible = x[:, 0, 8:16, 8:16].mean(dim=(1, 2)).clamp(0, 1)
        return [{"boxes": box[None], "scores": v[None], "labels": torch.tensor([3])} for v in visible]

    explainer = DRISE(torch.nn.Identity(), detector=detector, masks=200, cells=4)
    sal = explainer.attribute(torch.ones(1, 3, 32, 32), [InstanceTarget(0, 3, box)])[0]
    assert sal[8:16, 8:16].mean() > sal[24:, 24:].mean() + 0.05
    torch.testing.assert_close(sal, explainer.attribute(torch.ones(1, 3, 32, 32), [InstanceTarget(0, 3, box)])[0])


def test_match_instances_pairs_same_label_by_iou():
    gt_boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    gt_labels = torch.tensor([1, 2])
    det = {"boxes": torch.tensor([[1.0, 1.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]]), "scores": torch.tensor([0.8, 0.7]),
           "labels": torch.tensor([1, 0])}
    first, second = match_instances(gt_boxes, gt_labels, det, image=0)
    assert first.label == 1 and torch.equal(first.box, det["boxes"][0]) and second is None


@pytest.fixture(scope="module")
def detector():
    from realitygap.detection import build_detector

    torch.manual_seed(0)
    return build_detector({"depth": 18}, 5)


@pytest.mark.parametrize("head", ["class", "mask"])
def test_instance_gradcam_on_mask_rcnn(detector, head):
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8))
    targets = [InstanceTarget(0, 1, torch.tensor([4.0, 4.0, 30.0, 30.0])),
               InstanceTarget(1, 2, torch.tensor([30.0, 20.0, 60.0, 60.0]))]
    before = {k: v.clone() for k, v in detector.state_dict().items()}
    maps = INSTANCE_METHODS["instance_gradcam"](detector, head=head).explain(images, targets)
    assert maps.shape == (2, 64, 64) and maps.min() >= 0 and maps.max() <= 1 and maps.amax(dim=(1, 2)).min() > 0
    other = INSTANCE_METHODS["instance_gradcam"](detector, head=head).explain(
        images, [InstanceTarget(0, 1, torch.tensor([34.0, 34.0, 60.0, 60.0]))])
    assert not torch.allclose(maps[0], other[0])
    for k, v in detector.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_drise_runs_on_mask_rcnn(detector):
    images = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8))
    maps = INSTANCE_METHODS["drise"](detector, masks=16).explain(images, [InstanceTarget(0, 0, torch.tensor([0.0, 0.0, 40.0, 40.0]))])
    assert maps.shape == (1, 64, 64) and torch.isfinite(maps).all()
    with pytest.raises(ValueError, match="head must be"):
        INSTANCE_METHODS["instance_gradcam"](detector, head="nope").explain(images, [InstanceTarget(0, 0, torch.tensor([0.0, 0.0, 8.0, 8.0]))])


def test_instance_saliency_matches_captum(detector):
    from captum.attr import Saliency

    from realitygap.explain.instance import instance_scores
    from realitygap.models import normalise

    images = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8))
    target = InstanceTarget(1, 3, torch.tensor([10.0, 12.0, 50.0, 40.0]))
    ours = INSTANCE_METHODS["instance_saliency"](detector, head="mask").attribute(normalise(detector, images), [target])
    x = normalise(detector, images).requires_grad_(True)

    def forward(inp):     # captum wants one output per image: the target's score for its image, 0 elsewhere
        score = instance_scores(detector, detector.extract_feat(inp), [target], "mask")[0]
        return torch.stack([score if i == target.image else score * 0 for i in range(len(inp))])
    ref = Saliency(forward)
    peer = ref.attribute(x, abs=True)[1].amax(0)
    torch.testing.assert_close(ours[0], peer, rtol=1e-4, atol=1e-7)
