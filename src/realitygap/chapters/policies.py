"""Chapter: which augmentation closes how much of the gap? The gap-closure study of the policies (and of the
render search's and the pseudo-label models), with the image quality of every training set."""

from __future__ import annotations

from realitygap import figures
from realitygap.chapters.base import Context, Section, table
from realitygap.chapters.explanations import attribution_tiles
from realitygap.chapters.instances import INSTANCE_SET
from realitygap.io import read_json


def collect(ctx: Context, metrics: dict) -> None:
    """metrics.json `policies` (best first), `baselines`, and the FID / KID / IS of each training set."""
    study = ctx.study
    metrics["policies"] = dict(sorted(study["policies"].items(), key=lambda kv: -(kv[1]["gap_closed"] or -1e9)))
    metrics["baselines"] = study["baselines"]
    if ctx.image_quality:
        add_image_quality(metrics, read_json(ctx.image_quality))


def add_image_quality(metrics: dict, quality: dict) -> None:
    """FID and KID of each policy's images into its `policies` entry (DESIGN section 7), and every
    measured set (no augmentation, the policies, the reference domain's test images) under `image_quality`."""
    for name, entry in metrics["policies"].items():
        if name in quality["sets"]:
            entry |= {k: quality["sets"][name][k] for k in ("fid", "kid", "is")}
    metrics["image_quality"] = {"features": quality["features"], "sets": quality["sets"]}


def image_quality_text(metrics: dict) -> str:
    """How the training sets' FID / KID / IS were measured, and the two sets that frame the policies'."""
    quality = metrics.get("image_quality")
    if not quality:
        return ""
    frame = [f"{name}: FID {v['fid']:.2f}" for name, v in _reference_sets(metrics).items()]
    return (f" FID, KID and IS compare each policy's augmented images with real training images on the pooled "
            f"features of {', '.join(quality['features']['layers'])} of our own real-trained model "
            f"({quality['features']['dims']} dimensions; no Inception weights can be downloaded, so these are not "
            f"comparable with published Inception FIDs); for reference, " + "; ".join(frame) + ".")


def unaugmented_rows(metrics: dict) -> list[list]:
    """The policy table's reference rows: the training sets measured without augmentation (the source
    mix, gap closed 0 by definition; the target domain's test images) with their FID and KID."""
    sim = metrics.get("baselines", {}).get("sim", {})
    return [["-", name, sim.get("mIoU_on_real") if name.startswith("no augmentation") else None,
             0.0 if name.startswith("no augmentation") else None, "-", None, v["fid"], f"{v['kid']:.4f}"]
            for name, v in _reference_sets(metrics).items()]


def _reference_sets(metrics: dict) -> dict:
    """The image-quality sets that are neither a semantic policy's nor an instance policy's images."""
    return {name: v for name, v in metrics.get("image_quality", {}).get("sets", {}).items()
            if name not in metrics["policies"] and not name.startswith(INSTANCE_SET)}


def closure_entries(metrics: dict) -> dict:
    """The gap-closure rows: every policy, the render search's retrained model, the pseudo-label and self-training
    mixes."""
    extra = {"render search": metrics["simsearch"]} if metrics.get("simsearch", {}).get("gap_closed") is not None else {}
    extra |= {f"pseudo-labels: {mix}": v for mix, v in metrics.get("pseudolabel_run", {}).get("mixes", {}).items()
              if v.get("gap_closed") is not None}
    extra |= {f"self-training: {mix}": v for mix, v in metrics.get("uda", {}).get("mixes", {}).items()
              if v.get("gap_closed") is not None}
    return dict(sorted({**metrics["policies"], **extra}.items(), key=lambda kv: -(kv[1]["gap_closed"] or -1e9)))


def _figures(ctx: Context, metrics: dict) -> None:
    figures.closure_bars(closure_entries(metrics), ctx.out / "gap_closure.png")
    best = next(iter(metrics["policies"]), None)
    side = ["sim", f"aug_{best}", "real"] if best else ["sim", "real"]
    methods = ctx.cfg.get("policy_methods", ctx.cfg["methods"])
    rows, tiles = attribution_tiles(ctx, side, methods)
    figures.attribution_grid(rows, methods, tiles, ctx.out / "policy_attributions.png",
                             f"sim, best policy ({best}) and real models on the same real test images")


def sections(ctx: Context, metrics: dict) -> list[Section]:
    _figures(ctx, metrics)
    header = ["rank", "policy", "mIoU on real", "gap closed", "95 % CI", "seeds", "FID (own features)",
              "KID (own features)"]
    rows = [[i + 1, p, v["mIoU_on_real"], v["gap_closed"],
             "-" if not v.get("ci95") else f"[{v['ci95'][0]:.2f}, {v['ci95'][1]:.2f}]", v["seeds"],
             v.get("fid"), None if v.get("kid") is None else f"{v['kid']:.4f}"]
            for i, (p, v) in enumerate(closure_entries(metrics).items())]
    text = ("gap closed = (aug - sim) / (real - sim) on real test mIoU, per training seed (sim, real and policy "
            "models share the seed), then averaged; the interval is a Student-t 95 % CI over the seeds."
            + image_quality_text(metrics) + " Below: the seam attributions of the sim, best-policy and real models "
            "on the same real test images.")
    return [Section("Which augmentation closes how much of the gap?", text,
                    table(header, rows + unaugmented_rows(metrics)), ("gap_closure.png", "policy_attributions.png"))]
