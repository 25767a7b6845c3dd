import numpy as np

from realitygap.augment import build_policy
from realitygap.augment.stage import run_augment
from realitygap.io import read_json, read_mask

CAMERA = {"chromatic_aberration": 1.5, "defocus_sigma": 1.0, "gauss_noise_std": 0.03, "vignetting": 0.4,
          "jpeg_quality": [50, 90], "probability": 1.0}


def test_camera_policy_changes_image_keeps_mask_and_is_reproducible():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    mask = rng.integers(0, 3, (48, 48), dtype=np.uint8)
    policy = build_policy("camera", CAMERA)
    a_img, a_mask = policy(image, mask, seed=3)
    b_img, _ = policy(image, mask, seed=3)
    c_img, _ = policy(image, mask, seed=4)
    assert np.array_equal(a_mask, mask)
    assert not np.array_equal(a_img, image)
    assert np.array_equal(a_img, b_img) and not np.array_equal(a_img, c_img)


def test_vignetting_darkens_corners_not_centre():
    policy = build_policy("camera", {"vignetting": 0.5, "probability": 1.0})
    image = np.full((33, 33, 3), 200, np.uint8)
    out, _ = policy(image, np.zeros((33, 33), np.uint8), seed=0)
    assert out[16, 16, 0] >= 199 and out[0, 0, 0] < out[16, 16, 0]


def test_augment_stage_writes_aligned_dataset(rendered, tmp_path):
    dataset, split = rendered["sim"]
    run_augment("camera", CAMERA, [{"dataset": str(dataset), "split": str(split)}], 0, tmp_path / "aug")
    manifest = read_json(tmp_path / "aug/manifest.json")
    train_ids = [e["id"] for e in read_json(split)["train"]]
    assert [s["id"] for s in manifest["samples"]] == train_ids
    first = train_ids[0]
    assert np.array_equal(read_mask(tmp_path / f"aug/masks/{first}.png"), read_mask(dataset / f"masks/{first}.png"))
