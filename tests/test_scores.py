import numpy as np
import pytest
import torch

from realitygap.explain import GradCAM, build_targets
from realitygap.models import forward_logits
from realitygap.explain.scores import (average_drop_increase, confidences, faithfulness, localisation,
                                           mass_share, randomise, sanity_check)
from realitygap.segmentation_metrics import segmentation_scores

NAMES = ("background", "towel", "seam")


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
    ours = segmentation_scores(pred, truth, NAMES)
    assert ours["mIoU"] == pytest.approx(ref["mIoU"], abs=0.01)
    assert ours["aAcc"] == pytest.approx(ref["aAcc"], abs=0.01)
    assert ours["mDice"] == pytest.approx(ref["mDice"], abs=0.01)


def test_segmentation_scores_hand_case():
    truth = np.array([[0, 0, 1, 1], [0, 0, 2, 2]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 2, 0]])
    s = segmentation_scores(pred, truth, NAMES)
    # background: TP 3, FP 1, FN 1 -> 3/5; towel: TP 2, FP 1 -> 2/3; seam: TP 1, FN 1 -> 1/2
    assert s["IoU"] == {"background": 60.0, "towel": 66.67, "seam": 50.0}
    assert s["aAcc"] == 75.0
    assert s["worst_class_IoU"] == 50.0
    with pytest.raises(ValueError, match="shape"):
        segmentation_scores(pred[:1], truth, NAMES)


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


@pytest.fixture
def scored(small_model):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    with torch.no_grad():
        pred = forward_logits(small_model, torch.from_numpy(images)).argmax(1)
    present = [c for c in range(3) if (pred == c).any()]
    return images, build_targets(pred, present, 3)


def test_faithfulness_scores_follow_their_definitions(small_model, scored):
    """Recompute each score by hand from confidences of explicitly built images."""
    images, targets = scored
    rng = np.random.default_rng(2)
    maps = rng.random((len(images), len(targets), 48, 48)).astype(np.float32)
    got = faithfulness(small_model, images, maps, targets, NAMES, steps=2)
    x = torch.from_numpy(images).float()
    for t, target in enumerate(targets):
        m = torch.from_numpy(maps[:, t])[..., None]
        keep = target.region.flatten(1).any(1)
        y = confidences(small_model, x, [target])[keep, 0].numpy()
        o = confidences(small_model, x * m, [target])[keep, 0].numpy()
        rest = confidences(small_model, x * (1 - m), [target])[keep, 0].numpy()
        row = got[["background", "towel", "seam"][target.class_index]]
        assert row["average_drop"] == pytest.approx(100 * np.mean(np.maximum(0, y - o) / y), abs=1e-3)
        assert row["increase_in_confidence"] == pytest.approx(100 * np.mean(o > y), abs=1e-3)
        assert row["average_retention"] == pytest.approx(100 * np.mean(np.maximum(0, y - rest) / y), abs=1e-3)
        # deletion with 2 steps: the whole image, its top half by map value blacked out, all black
        order = torch.from_numpy(maps[:, t]).flatten(1).argsort(1, descending=True)[:, :48 * 48 // 2]
        half = x.clone().view(len(x), -1, 3)
        for i in range(len(x)):
            half[i, order[i]] = 0
        curve = [confidences(small_model, im, [target])[:, 0] for im in (x, half.view_as(x), torch.zeros_like(x))]
        auc = 100 * ((curve[0] + 2 * curve[1] + curve[2]) / 4)[keep].mean()
        assert row["deletion_auc"] == pytest.approx(float(auc), abs=1e-3)
        others = [n for n in target.others if n.region.any()]
        if others:
            assert row["average_drop_of_others"] is not None and 0 <= row["average_drop_of_others"] <= 100


def test_energy_pointing_game_and_shares_on_each_class():
    truth = np.zeros((1, 4, 4), np.uint8)
    truth[0, 0] = 2           # seam: top row
    truth[0, 1] = 1           # towel: second row
    maps = np.zeros((1, 2, 4, 4), np.float32)
    maps[0, 0, 0, :2] = 1.0   # towel map: half its mass on the seam, none on the towel
    maps[0, 0, 1, 0] = 2.0
    maps[0, 1, 0] = 1.0       # seam map: all on the seam
    got = localisation(maps, truth, [1, 2], NAMES)
    assert got["towel"]["share_on"] == {"background": 0.0, "towel": 50.0, "seam": 50.0}
    assert got["towel"]["energy_pointing_game"] == 50.0
    assert got["seam"]["energy_pointing_game"] == 100.0 and got["seam"]["own_area"] == 25.0
    assert got["seam"]["area_of"] == {"background": 50.0, "towel": 25.0, "seam": 25.0}


def test_randomisation_changes_only_the_listed_blocks(small_model):
    copy_ = randomise(small_model, ["decode_head"], seed=0)
    before, after = small_model.state_dict(), copy_.state_dict()
    changed = {k.split(".")[0] for k in before if before[k].is_floating_point() and not torch.equal(before[k], after[k])}
    assert changed == {"decode_head"}


def test_sanity_check_separates_model_dependent_maps(small_model, scored):
    """A map that ignores the model (image brightness) keeps a rank correlation of 1 under
    randomisation; Grad-CAM's falls."""
    images, targets = scored
    x = torch.from_numpy(images)

    def brightness(model, imgs, tgts):
        return imgs.float().mean(-1)[:, None].expand(-1, len(tgts), -1, -1).numpy()

    def gradcam(model, imgs, tgts):
        return GradCAM(model, "decode_head.conv_seg:input").explain(imgs, tgts).numpy()

    blind = sanity_check(small_model, brightness, x, targets, brightness(small_model, x, targets))
    assert blind["spearman_full"] == pytest.approx(1.0)
    real = sanity_check(small_model, gradcam, x, targets, gradcam(small_model, x, targets))
    assert len(real["spearman_by_step"]) == 3 and real["spearman_full"] < 0.9
