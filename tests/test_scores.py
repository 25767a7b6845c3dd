import numpy as np
import pytest
import torch

from realitygap.score.explanations import average_drop_increase, mass_share
from realitygap.score.segmentation import segmentation_scores


def test_segmentation_scores_match_mmseg_iou_metric():
    from mmseg.evaluation import IoUMetric
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, (4, 32, 32)).astype(np.uint8)
    pred = np.where(rng.random((4, 32, 32)) < 0.7, truth, rng.integers(0, 3, (4, 32, 32))).astype(np.uint8)
    metric = IoUMetric(iou_metrics=["mIoU", "mDice"])
    metric.dataset_meta = {"classes": ("background", "towel", "seam")}
    for p, t in zip(pred, truth):
        sample = SegDataSample()
        sample.pred_sem_seg = PixelData(data=torch.from_numpy(p[None].astype(np.int64)))
        sample.gt_sem_seg = PixelData(data=torch.from_numpy(t[None].astype(np.int64)))
        metric.process([], [sample.to_dict()])
    ref = metric.compute_metrics(metric.results)
    ours = segmentation_scores(pred, truth)
    assert ours["mIoU"] == pytest.approx(ref["mIoU"], abs=0.01)
    assert ours["aAcc"] == pytest.approx(ref["aAcc"], abs=0.01)
    assert ours["mDice"] == pytest.approx(ref["mDice"], abs=0.01)


def test_segmentation_scores_hand_case():
    truth = np.array([[0, 0, 1, 1], [0, 0, 2, 2]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 2, 0]])
    s = segmentation_scores(pred, truth)
    # background: TP 3, FP 1, FN 1 -> 3/5; towel: TP 2, FP 1 -> 2/3; seam: TP 1, FN 1 -> 1/2
    assert s["IoU"] == {"background": 60.0, "towel": 66.67, "seam": 50.0}
    assert s["aAcc"] == 75.0
    assert s["worst_class_IoU"] == 50.0
    with pytest.raises(ValueError, match="shape"):
        segmentation_scores(pred[:1], truth)


def test_average_drop_and_increase_follow_the_definition():
    y = np.array([0.8, 0.5, 0.4])
    o = np.array([0.4, 0.6, 0.4])
    drop, inc = average_drop_increase(y, o)
    assert drop == pytest.approx(100 * (0.5 + 0 + 0) / 3)
    assert inc == pytest.approx(100 / 3)


def test_mass_share():
    maps = np.zeros((2, 4, 4))
    maps[0, :2] = 1.0
    maps[1, 0, 0] = 1.0
    mask = np.zeros((2, 4, 4), bool)
    mask[:, 0] = True
    assert mass_share(maps, mask).tolist() == [0.5, 1.0]
