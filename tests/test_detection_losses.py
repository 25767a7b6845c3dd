"""Long-tail classification losses of the Mask R-CNN box head: LDAM against its hand-computed value, and
every loss choice training a real Mask R-CNN step."""

import numpy as np
import pytest
import torch

from realitygap.detection_losses import (CLASSIFICATION_LOSSES, LDAMLoss, classification_loss, ldam_margins,
                                         reweight_class_weights)


def test_ldam_margins_follow_the_inverse_fourth_root_of_the_counts():
    assert ldam_margins([1, 16, 81], max_margin=0.5).tolist() == pytest.approx([0.5, 0.25, 0.5 / 3], rel=1e-6)
    with pytest.raises(ValueError, match="at least one"):
        ldam_margins([3, 0])


def test_ldam_loss_matches_the_hand_computed_value():
    loss = LDAMLoss(class_counts=[1, 16, 81], max_margin=0.5, scale=2.0)
    scores = torch.tensor([[2.0, 1.0, 0.5, 0.1], [0.3, 0.2, 1.0, 0.4], [0.0, 0.5, 0.2, 1.5]])
    labels = torch.tensor([0, 2, 3])                         # category 0, category 2, background
    def ce(logits, y):
        return -torch.log_softmax(torch.tensor(logits), 0)[y].item()
    expected = np.mean([ce([2 * (2.0 - 0.5), 2 * 1.0, 2 * 0.5, 2 * 0.1], 0),
                        ce([2 * 0.3, 2 * 0.2, 2 * (1.0 - 0.5 / 3), 2 * 0.4], 2),
                        ce([0.0, 2 * 0.5, 2 * 0.2, 2 * 1.5], 3)])            # no margin for the background
    assert float(loss(scores, labels)) == pytest.approx(expected, rel=1e-5)
    weights = torch.tensor([1.0, 0.0, 1.0])
    assert float(loss(scores, labels, weights, avg_factor=2.0)) == pytest.approx(
        (expected * 3 - ce([2 * 0.3, 2 * 0.2, 2 * (1.0 - 0.5 / 3), 2 * 0.4], 2)) / 2, rel=1e-5)


def test_reweighting_gives_rare_categories_the_larger_weights():
    weights = reweight_class_weights([100, 10, 1])
    assert weights[-1] == 1.0 and weights[0] < weights[1] < weights[2]
    assert np.mean(weights[:-1]) == pytest.approx(1.0)


def _batch(net):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    masks = np.zeros((2, 64, 64), np.uint8)
    masks[0, 8:30, 10:40] = 1
    masks[1, 36:60, 20:56] = 1
    sample = DetDataSample(metainfo={"img_shape": (64, 64), "ori_shape": (64, 64), "pad_shape": (64, 64),
                                     "scale_factor": (1.0, 1.0), "batch_input_shape": (64, 64)})
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[10.0, 8, 40, 30], [20, 36, 56, 60]]),
                                       labels=torch.tensor([0, 2]), masks=BitmapMasks(masks, 64, 64))
    image = torch.randint(0, 255, (3, 64, 64), generator=torch.Generator().manual_seed(0)).float()
    return net.data_preprocessor({"inputs": [image], "data_samples": [sample]}, True)


@pytest.mark.parametrize("name", CLASSIFICATION_LOSSES)
def test_every_classification_loss_trains_a_mask_rcnn_step(name):
    from realitygap.detection import build_detector

    torch.manual_seed(0)
    net = build_detector({"depth": 18}, 3, loss_cls=classification_loss(name, [50, 10, 2])).train()
    data = _batch(net)
    losses = net.loss(data["inputs"], data["data_samples"])
    total, logged = net.parse_losses(losses)
    assert torch.isfinite(total) and sum(v for k, v in logged.items() if k.startswith("loss_cls")) > 0
    total.backward()
    assert net.roi_head.bbox_head.fc_cls.weight.grad.abs().sum() > 0
