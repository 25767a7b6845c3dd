"""Maps per second of our Grad-CAM, Score-CAM and RISE against pytorch-grad-cam and captum, on the same
mmseg model, images and segmentation targets, side by side in one run.

Setting (as in REFERENCES.md): a randomly initialised mmseg EncoderDecoder (UNet, base 16 channels,
5 stages, FCNHead, 3 classes) at 128x128, 8 images, 3 class targets per image (Seg-Grad-CAM target:
the class logits summed over its predicted mask) = 24 maps, the CAM layer the input of the classifier
(the last decoder stage's features), torch with 2 threads, the best of `--repeats` runs.
Peers explain one target per call (their API); ours explains every target of a batch in one call.
RISE has no library peer: its peer is the reference algorithm of Petsiuk et al.'s code (one image at
a time, masks in batches, all targets from the same forwards), on the same masks.
Run: .venv/bin/python bench/explain_vs_peers.py [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time
from importlib.metadata import version

import numpy as np
import torch
from torch import nn

from common import save
from realitygap.explain import METHODS, build_targets
from realitygap.explain.base import target_confidence, target_score
from realitygap.explain.rise import rise_masks
from realitygap.models import build_model, forward_logits, normalise


class Logits(nn.Module):
    """The mmseg model as a plain (N, 3, H, W) -> (N, C, H, W) module for the peers."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return forward_logits(self.net, x, normalised=True)


def best_time(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, out


def grad_cam_peer(cls, net, x, targets, **kwargs):
    from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

    with cls(model=Logits(net), target_layers=[net.decode_head.convs], **kwargs) as cam:
        return np.stack([cam(input_tensor=x, targets=[SemanticSegmentationTarget(t.class_index, m.cpu().numpy())
                                                      for m in t.region]) for t in targets], 1)


def captum_gradcam(net, x, targets):
    from captum.attr import LayerGradCam

    maps = []
    for t in targets:
        cam = LayerGradCam(lambda inp, t=t: target_score(forward_logits(net, inp, True), t), net.decode_head.convs)
        maps.append(cam.attribute(x, relu_attributions=True).detach())
    return torch.cat(maps, 1)


def reference_rise(net, x, targets, masks, p, batch):
    """Petsiuk et al.'s algorithm as published: per image, the masked copies in batches."""
    out = torch.zeros(len(x), len(targets), *x.shape[-2:], device=x.device)
    with torch.no_grad():
        for i in range(len(x)):
            for start in range(0, len(masks), batch):
                m = masks[start:start + batch]
                logits = forward_logits(net, x[i:i + 1] * m[:, None], True)
                rows = torch.full((len(m),), i, device=x.device)
                for j, t in enumerate(targets):
                    out[i, j] += (target_confidence(logits, t, rows)[:, None, None] * m).sum(0)
    return out / (len(masks) * p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rise-masks", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    import pytorch_grad_cam

    net = build_model({"arch": "unet", "base_channels": 16, "num_stages": 5, "num_classes": 3}, 128).to(args.device).eval()
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (8, 128, 128, 3), dtype=np.uint8))
    images = images.to(args.device)
    with torch.no_grad():
        pred = forward_logits(net, images).argmax(1)
    # three class targets per image: each class over its predicted mask (empty masks score 0)
    targets = build_targets(pred, [0, 1, 2], 3)
    x = normalise(net, images)
    maps = len(images) * len(targets)
    layer = "decode_head.conv_seg:input"
    rows = {}

    def measure(name, fn):
        seconds, out = best_time(fn, args.repeats)
        rows[name] = {"seconds": round(seconds, 3), "maps_per_s": round(maps / seconds, 2)}
        print(name, rows[name], flush=True)
        return out

    ours_gc = measure("ours_gradcam", lambda: METHODS["gradcam"](net, layer).explain(images, targets))
    peer_gc = measure("pytorch_grad_cam_gradcam", lambda: grad_cam_peer(pytorch_grad_cam.GradCAM, net, x, targets))
    measure("captum_layergradcam", lambda: captum_gradcam(net, x, targets))
    ours_sc = measure("ours_scorecam", lambda: METHODS["scorecam"](net, layer).explain(images, targets))
    peer_sc = measure("pytorch_grad_cam_scorecam",
                      lambda: grad_cam_peer(pytorch_grad_cam.ScoreCAM, net, x, targets))
    rise = METHODS["rise"](net, layer, masks=args.rise_masks, batch_size=16)
    measure("ours_rise", lambda: rise.attribute(x, targets))
    masks = rise_masks(args.rise_masks, 8, 0.5, (128, 128), rise.generator(torch.device("cpu"))).to(args.device)
    measure("reference_rise", lambda: reference_rise(net, x, targets, masks, 0.5, 16))
    raw = METHODS["gradcam"](net, layer).attribute(x, targets).flatten(2).amax(-1).detach().cpu().numpy()
    faint = raw < 1e-3 * raw.max()       # maps whose min-max normalisation amplifies rounding
    diff = np.abs(ours_gc.cpu().numpy() - peer_gc).reshape(len(images), len(targets), -1).max(-1)
    agreement = {"gradcam_max_abs_diff_vs_pytorch_grad_cam": float(diff.max()),
                 "gradcam_max_abs_diff_maps_not_faint": float(diff[~faint].max()),
                 "gradcam_faint_maps": int(faint.sum()),
                 "scorecam_max_abs_diff_vs_pytorch_grad_cam": float(np.abs(ours_sc.cpu().numpy() - peer_sc).max())}
    figures = {
        "rows": rows, "agreement": agreement,
        "speedup_vs_pytorch_grad_cam": {
            "gradcam": round(rows["pytorch_grad_cam_gradcam"]["seconds"] / rows["ours_gradcam"]["seconds"], 2),
            "scorecam": round(rows["pytorch_grad_cam_scorecam"]["seconds"] / rows["ours_scorecam"]["seconds"], 2)},
        "speedup_vs_captum": {
            "gradcam": round(rows["captum_layergradcam"]["seconds"] / rows["ours_gradcam"]["seconds"], 2)},
        "speedup_vs_reference_rise": round(rows["reference_rise"]["seconds"] / rows["ours_rise"]["seconds"], 2),
    }
    name = "explain" if args.device == "cpu" else f"explain_{args.device}"
    path = save(name, f"python bench/explain_vs_peers.py --device {args.device}", figures,
                peer={"pytorch-grad-cam": version("grad-cam"), "captum": version("captum"),
                      "rise": "reference algorithm (Petsiuk et al. 2018), in this script"},
                setting={"images": len(images), "targets_per_image": len(targets), "size": 128,
                         "model": "UNet base 16, 5 stages, FCNHead, random init", "rise_masks": args.rise_masks,
                         "threads": torch.get_num_threads(), "device": args.device, "repeats": args.repeats})
    print(path.read_text())


if __name__ == "__main__":
    main()
