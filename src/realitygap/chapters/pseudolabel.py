"""The pseudo-label path in metrics.json and the report: the quality of the labels after each step, and
where the models trained on them stand between the sim- and real-trained models."""

from __future__ import annotations

from pathlib import Path

from realitygap.chapters.base import Context, Section, table
from realitygap.io import read_json

TAG_SOURCES = {"masks": "image-level tags read off the held-out masks (standing in for an annotator's tags)",
               "dataset": "the image-level tags ingested with the images",
               "predicted": "tags predicted by the sim-trained model (no tags were given)"}


def step_metrics(steps: dict) -> dict:
    """metrics.json `pseudolabel`: {step: {mIoU_vs_truth, IoU, coverage}} in pipeline order."""
    return {name: {k: v for k, v in step.items() if k in ("mIoU_vs_truth", "IoU", "coverage")}
            for name, step in steps["steps"].items()}


def run_metrics(steps: dict, study: dict, mixes: list[str]) -> dict:
    """metrics.json `pseudolabel_run`: where the tags came from, what was left out, and the gap closure
    of the mixes trained on the pseudo-labels (from the gap-closure study)."""
    return {"tags": steps["tags"], "images": steps["images"], "labelled": steps["labelled"],
            "contradicted": steps["contradicted"], "refined_method": steps["refined_method"],
            "classifier_training": steps.get("classifier_training"),
            "mixes": {mix: study[mix] for mix in mixes if mix in study}}


def step_rows(metrics: dict, classes: tuple[str, ...]) -> tuple[list[str], list[list]]:
    """The per-step table: mIoU and per-class IoU against the held-out truth, and the labelled share."""
    header = ["step", "mIoU vs truth", *[f"IoU {c}" for c in classes], "pixels labelled %"]
    rows = [[name, s["mIoU_vs_truth"], *[s.get("IoU", {}).get(c) for c in classes], s["coverage"]]
            for name, s in metrics.get("pseudolabel", {}).items()]
    return header, rows


def pseudolabel_text(metrics: dict) -> str:
    """A plain-language reading: label quality per step, the step that loses or gains most, and where the
    pseudo-label models stand against sim, real and the best augmentation policy."""
    run, steps = metrics["pseudolabel_run"], metrics["pseudolabel"]
    text = [f"{run['labelled']} of {run['images']} training images pseudo-labelled from {TAG_SOURCES[run['tags']]}; "
            f"{len(run['contradicted'])} tags contradicted by the tag classifier were reported and their images left out."]
    if run.get("classifier_training"):
        text.append(f"The tag classifier's training: {run['classifier_training']}.")
    scored = {k: v["mIoU_vs_truth"] for k, v in steps.items() if v["mIoU_vs_truth"] is not None}
    if scored:
        chain = [f"prior_{run['refined_method']}", *(["saliency"] if "saliency" in scored else []), "crf", "affinity"]
        deltas = {f"{a} -> {b}": scored[b] - scored[a] for a, b in zip(chain, chain[1:]) if a in scored and b in scored}
        text.append("Pseudo-label mIoU against the held-out masks: "
                    + ", ".join(f"{k} {v:.1f}" for k, v in scored.items()) + ".")
        if deltas:
            text.append("Change per step: " + ", ".join(f"{k} {v:+.1f}" for k, v in deltas.items()) + ".")
    else:
        text.append("The domain has no pixel labels, so the steps are not scored.")
    gap = metrics["semantic"]["gap"]
    best = next(iter(metrics.get("policies", {}).items()), None)
    for mix, closure in run["mixes"].items():
        if closure.get("gap_closed") is None:
            continue
        line = (f"{mix} reaches {closure['mIoU_on_real']:.1f} mIoU on real test images (sim {gap['sim_on_real']:.1f}, "
                f"real {gap['real_on_real']:.1f}): it closes {closure['gap_closed']:.2f} of the gap")
        if best and best[1].get("gap_closed") is not None:
            diff = closure["gap_closed"] - best[1]["gap_closed"]
            line += (f", {abs(diff):.2f} {'more' if diff >= 0 else 'less'} than the best augmentation policy "
                     f"({best[0]}, {best[1]['gap_closed']:.2f})")
        text.append(line + ".")
    return " ".join(text)


def collect(ctx: Context, metrics: dict) -> None:
    if ctx.pseudolabel_dir:
        steps = read_json(Path(ctx.pseudolabel_dir) / "steps.json")
        metrics["pseudolabel"] = step_metrics(steps)
        metrics["pseudolabel_run"] = run_metrics(steps, ctx.study, ctx.cfg.get("pseudo_mixes", []))


def sections(ctx: Context, metrics: dict) -> list[Section]:
    if not ctx.pseudolabel_dir:
        return []
    return [Section("Closing the gap without real pixel labels: CAM pseudo-labels", pseudolabel_text(metrics),
                    table(*step_rows(metrics, ctx.classes.names)), (Path(ctx.pseudolabel_dir) / "examples.png",))]
