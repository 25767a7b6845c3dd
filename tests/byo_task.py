"""A task none of our renderer's code made, for the bring-your-own-task test of the whole workflow: socks on a
floor (four classes under other names) from a small independent generator, a `sim` domain of 64x48 renders
with depth maps and a render-parameter table, a `real` domain of 80x60 photos, a frozen mmseg model of the
user's own config and checkpoint, and the generator as a command-renderer plugin."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

CLASSES = {"names": ["floor", "sock", "heel", "toe"], "palette": [[0, 0, 0], [200, 200, 200], [0, 0, 255], [255, 0, 0]],
           "ignore_index": 255, "focus": "toe"}
VALUES = {"floor": 10, "sock": 20, "heel": 30, "toe": 40}
COLOURS = {10: (60, 50, 40), 20: (190, 190, 190), 30: (30, 30, 220), 40: (220, 30, 30)}


def sock_image(rng: np.random.Generator, shape: tuple[int, int], look: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image, its mask (values of VALUES) and depth: a grey sock band, a blue heel disc, a red toe cap.
    `look`: noise (std, grey levels), toe_contrast (0: toe as grey as the sock, 1: red), stripes (0..1)."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    y0, x0 = int(rng.integers(h // 6, h - h // 3)), int(rng.integers(2, w // 3))
    x1, band = int(rng.integers(w // 2, w - 3)), max(6, h // 5)
    mask = np.full(shape, VALUES["floor"], np.uint8)
    mask[y0:y0 + band, x0:x1] = VALUES["sock"]
    mask[(yy - y0 - band // 2) ** 2 + (xx - x0 - band // 2) ** 2 < (band // 2) ** 2] = VALUES["heel"]
    mask[y0:y0 + band, max(x0, x1 - band // 2):x1] = VALUES["toe"]
    image = np.zeros((*shape, 3), np.float32)
    for value, colour in COLOURS.items():
        image[mask == value] = colour
    toe = mask == VALUES["toe"]
    image[toe] = look.get("toe_contrast", 1.0) * image[toe] + (1 - look.get("toe_contrast", 1.0)) * np.array(COLOURS[20])
    image[(mask == VALUES["sock"]) & ((xx // 3) % 2 == 0)] *= 1 - 0.4 * look.get("stripes", 0.0)
    image += rng.normal(0, look.get("noise", 0.0), image.shape)
    depth = np.where(mask == VALUES["floor"], 1.0, 0.97).astype(np.float32) + 0.001 * yy
    return np.clip(image, 0, 255).astype(np.uint8), mask, depth


def write_domain(folder: Path, count: int, seed: int, shape: tuple[int, int], look: dict,
                 simulator: bool = False) -> None:
    """`count` images and masks under `folder` (and depth maps and a render-parameter table with `simulator`)."""
    import cv2

    rng = np.random.default_rng(seed)
    rows = ["image,noise,toe_contrast,stripes"]
    for kind in ("images", "masks", "depth"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        drawn = {k: float(rng.uniform(*v)) if isinstance(v, list) else float(v) for k, v in look.items()}
        image, mask, depth = sock_image(rng, shape, drawn)
        cv2.imwrite(str(folder / "images" / f"s{i:03d}.png"), image[..., ::-1])
        cv2.imwrite(str(folder / "masks" / f"s{i:03d}.png"), mask)
        if simulator:
            np.save(folder / "depth" / f"s{i:03d}.npy", depth)
            rows.append(f"s{i:03d}.png,{drawn.get('noise', 0)},{drawn.get('toe_contrast', 1)},{drawn.get('stripes', 0)}")
    if simulator:
        (folder / "render_params.csv").write_text("\n".join(rows) + "\n")


def render_plugin(params_file: str, out: str, seed: str) -> None:
    """The command renderer: `python byo_task.py <params.json> <out> <seed>` renders the trial's look, square,
    in the class set it is given (mask values are label indices)."""
    params = json.loads(Path(params_file).read_text())
    names = params["classes"]["names"]
    look = dict(params["factors"]) | {k: list(v) for k, v in params.get("randomise", {}).items()}
    write_domain(Path(out), params["count"], int(seed), (params["size"], params["size"]), look)
    for mask_file in sorted((Path(out) / "masks").iterdir()):
        import cv2
        mask = cv2.imread(str(mask_file), cv2.IMREAD_UNCHANGED)
        labels = np.zeros_like(mask)
        for name, value in VALUES.items():
            labels[mask == value] = names.index(name)
        cv2.imwrite(str(mask_file), labels)


if __name__ == "__main__":
    render_plugin(*sys.argv[1:4])


def write_task(root: Path, repo: Path) -> dict:
    """Data, the user's model (module, config, checkpoint) and params.yaml of the task under `root`: the tiny
    profile's budgets, every section that names our benchmark set for socks. Returns the params."""
    import torch
    import yaml

    from realitygap.models import build_model
    from realitygap.params import load
    from tests.test_user_model import CONFIG, MODULE

    write_domain(root / "inputs/sim", 24, 0, (48, 64), {"noise": 2.0, "toe_contrast": 1.0, "stripes": 0.0}, simulator=True)
    write_domain(root / "inputs/real", 24, 1, (60, 80), {"noise": [6.0, 12.0], "toe_contrast": [0.3, 0.7],
                                                         "stripes": [0.3, 1.0]})
    (root / "model").mkdir(parents=True, exist_ok=True)
    (root / "model/sock_backbone.py").write_text(MODULE)
    (root / "model/sock_seg.py").write_text(CONFIG.format(classes=4))
    torch.manual_seed(0)
    net = build_model({"config": str(root / "model/sock_seg.py"), "num_classes": 4}, 64)
    torch.save({"state_dict": net.state_dict()}, root / "model/sock_seg.pth")
    (root / "sock_renderer.py").write_text((Path(__file__).read_text()))
    cfg = load(repo / "params.yaml", profile="tiny")
    cfg = customise(cfg, root)
    (root / "params.yaml").write_text(yaml.safe_dump(cfg | {"profile": "tiny", "profiles": {"tiny": {}}}, sort_keys=False))
    return cfg


def customise(cfg: dict, root: Path) -> dict:
    """The tiny params, set for the sock task."""
    class_map = {str(v): k for k, v in VALUES.items()}
    masks = lambda d: {"format": "masks", "images": str(root / f"inputs/{d}/images"),  # noqa: E731
                       "masks": str(root / f"inputs/{d}/masks"), "class_map": class_map}
    cfg["classes"] = CLASSES
    cfg["render"] |= {"domains": {}, "count": {}}
    cfg["ingest"] = {"sim": masks("sim") | {"depth": str(root / "inputs/sim/depth"),
                                            "render_params": str(root / "inputs/sim/render_params.csv"),
                                            "factors": ["noise", "toe_contrast", "stripes"]},
                     "real": masks("real")}
    cfg["train"] |= {"models": {"mine": {"config": str(root / "model/sock_seg.py"),
                                         "checkpoint": str(root / "model/sock_seg.pth"), "frozen_mix": "sim"}},
                     "primary_model": "mine", "resize": {"scale": [64, 48], "ratio_range": [1.0, 1.5], "crop": [48, 48]}}
    cfg["explain"] |= {"models": ["mine"], "target_classes": ["toe", "heel"], "box": [0, 0, 48, 48]}
    cfg["score"]["xai_classes"] = ["toe"]
    cfg["diagnose"] |= {"target_class": "toe", "cka_layers": ["backbone.a", "backbone.b", "decode_head.conv_seg:input"]}
    cfg["image_quality"]["layers"] = ["backbone.a", "backbone.b"]
    cfg["frontier"]["class"] = "toe"
    space = {"noise": {"range": [0.0, 12.0], "randomise": True}, "toe_contrast": {"range": [0.2, 1.0], "randomise": True},
             "stripes": [0.0, 1.0]}
    cfg["simsearch"] |= {"renderer": {"type": "command", "command": f"{sys.executable} {root / 'sock_renderer.py'} "
                                      "{params} {out} {seed}"}, "space": space, "initial": []}
    policies = cfg["augment"]["policies"]
    policies["randomise"] = {"type": "randomise", "colours": False, "factors": {"noise": [0.0, 12.0],
                                                                              "toe_contrast": [0.2, 1.0]}}
    policies["xai_guided"] |= {"ranges": {"noise": [0.0, 12.0], "toe_contrast": [0.2, 1.0]}, "target_class": "toe"}
    cfg["experiments"].pop("probe", None)
    cfg["experiments"]["base"]["loss"] = "ce"       # weighted_ce's three weights are the benchmark's
    cfg["train"]["loss"] = "ce"
    cfg["experiments"]["groups"] = ["domain", "stripes"]
    cfg["instance"] |= {"mixes": [], "longtail": {"losses": ["ce"], "mixes": []}}
    cfg["instance"]["explain"]["mixes"] = []
    cfg["pseudolabel"]["model"] = {"arch": "unet", "base_channels": 8, "num_stages": 3}
    cfg["augment"]["seeds"] = 1          # one training seed: the tiny run covers the replicates and their intervals
    return cfg
