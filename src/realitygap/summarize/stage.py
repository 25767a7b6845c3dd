"""`realitygap summarize`: metrics.json (the DVC metrics contract of DESIGN.md section 7),
summary.md, a self-contained report.html and the figures."""

from __future__ import annotations

import base64
import glob
import html
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from realitygap import CLASSES, __version__
from realitygap.io import read_image, read_json, write_json, write_text
from realitygap.counterfactual import report as counterfactual_report
from realitygap.detection import report as instance_report
from realitygap.frontier import report as frontier_report
from realitygap.experiments import report as experiments_report
from realitygap.pseudolabel import report as pseudolabel_report
from realitygap.summarize import figures


def collect_timings(root: str | os.PathLike, run_record: str | os.PathLike | None = None,
                    now: float | None = None) -> dict:
    """Seconds per stage summed over the timing records the CLI leaves under `root` (job-seconds: jobs
    that ran side by side both count), their sum as `job_seconds_total`, and `total`: the wall time of the
    run that writes the report, from the start the workflow recorded in `run_record` (Snakemake's
    `onstart`) to `now`; without that record, from the earliest job's start."""
    totals: dict[str, float] = {}
    starts = []
    for path in sorted(glob.glob(os.path.join(root, "*.json"))):
        record = json.loads(Path(path).read_text())
        totals[record["stage"]] = round(totals.get(record["stage"], 0.0) + record["seconds"], 2)
        starts.append(record.get("started"))
    totals["job_seconds_total"] = round(sum(totals.values()), 2)
    if run_record and Path(run_record).is_file():
        started = read_json(run_record)["started"]
    else:
        started = min((s for s in starts if s is not None), default=None)
    now = time.time() if now is None else now
    totals["total"] = round(now - started, 2) if started is not None else 0.0
    return totals


def timing_rows(timings: dict) -> list[list]:
    """The run-time table: stages, their sum in job-seconds, then the run's wall time."""
    rows = [[k, v] for k, v in timings.items() if k not in ("job_seconds_total", "total")]
    return rows + [["all stages (job-seconds)", timings.get("job_seconds_total")],
                   ["run (wall time)", timings["total"]]]


def diagnosis_summary(diagnoses: dict[str, dict], primary: str) -> dict:
    """The `diagnosis` entry of metrics.json: the primary model's ranked causes and their evidence."""
    main = diagnoses[primary]
    return {"ranked_causes": main["ranked_causes"], "model": primary,
            "regions": [{k: r[k] for k in ("region", "factors", "score", "attribution_points", "ablation_points")}
                        for r in main["regions"]],
            "by_model": {m: d["ranked_causes"] for m, d in diagnoses.items()},
            **({"source": main["source"], "target": main["target"], "counterfactual": main["counterfactual"]}
               if "counterfactual" in main else {})}


def diagnosis_text(diagnosis: dict) -> str:
    """A plain-language reading of the diagnosis."""
    top = [r for r in diagnosis["regions"] if r["score"] > 0]
    if not top:
        return "No cue region draws more reliance from the sim-trained model than from the real-trained one."
    lines = []
    for r in top[:3]:
        names = ", ".join(r["factors"]) or "no differing render factor"
        attr, abl = r["attribution_points"] or 0.0, r["ablation_points"] or 0.0
        lines.append(f"{r['region']} ({names}): when it is inpainted, the sim-trained model loses {abs(abl):.1f} "
                     f"points {'more' if abl >= 0 else 'less'} seam confidence than the real-trained one, and it "
                     f"puts {abs(attr):.1f} points {'more' if attr >= 0 else 'less'} of its seam attribution there")
    return ("Suspected causes of the gap, strongest first: " + "; ".join(lines) + ".")


def build_metrics(matrix: dict, cfg: dict, xai: dict, timings: dict, study: dict) -> dict:
    """The metrics.json document from the score matrix, XAI scores, timings and the gap-closure study."""
    primary = cfg["primary_model"]
    semantic = {mix: {d: {k: s[k] for k in ("mIoU", "aAcc", "mDice", "IoU", "worst_class_IoU") if k in s}
                      for d, s in row.items()}
                for mix, row in matrix[primary].items()}
    sim_real, real_real = semantic["sim"]["real"]["mIoU"], semantic["real"]["real"]["mIoU"]
    policies = dict(sorted(study["policies"].items(), key=lambda kv: -(kv[1]["gap_closed"] or -1e9)))
    return {
        "semantic": {"matrix": semantic,
                     "gap": {"metric": "mIoU", "sim_on_real": sim_real, "real_on_real": real_real,
                             "points": round(real_real - sim_real, 2)},
                     "models": {m: {mix: {d: s["mIoU"] for d, s in row.items()} for mix, row in mixes.items()}
                                for m, mixes in matrix.items()}},
        "policies": policies,
        "baselines": study["baselines"],
        "explanations": xai,
        "timings_s": timings,
    }


def simsearch_summary(search: dict, closure: dict | None, params: dict) -> dict:
    """The `simsearch` entry of metrics.json: trials, the best look, the factors it moved toward the target,
    and the retrained model's gap closure."""
    look = search["look"]
    out = {"trials": search["trials"], "complete": search["complete"], "pruned": search["pruned"],
           "best_params": {**look["factors"], **({"randomise": look["randomise"]} if look["randomise"] else {})},
           "best_val_mIoU": search["best"]["mIoU_val"], "importances": search["importances"]}
    for key in ("gap_closed", "ci95", "mIoU_on_real", "mIoU_on_real_ci95", "gap_closed_per_seed", "seeds"):
        out[key] = (closure or {}).get(key)
    return out | {"toward_target": toward_target(look, params)}


def _domain_looks(params: dict) -> tuple[dict, dict]:
    """The search's base and target domains' render factors."""
    cfg, domains = params["simsearch"], params["render"]["domains"]
    return domains[cfg["base"]], domains[cfg["target"]]


def _best_of(look: dict, name: str) -> float | list[float]:
    """A factor's value in a look: its per-image range when randomised, else its fixed value (0 = off)."""
    return look["randomise"].get(name) or look["factors"].get(name, 0)


def toward_target(look: dict, params: dict) -> dict[str, bool]:
    """Per searched factor: whether the best look lies closer to the target domain's value than the base
    domain's does (a randomised factor by the centre of its range)."""
    base, target = _domain_looks(params)
    out = {}
    for name in params["simsearch"]["space"]:
        best = _best_of(look, name)
        value = sum(best) / 2 if isinstance(best, list) else best
        out[name] = abs(value - target.get(name, 0)) < abs(base.get(name, 0) - target.get(name, 0))
    return out


def simsearch_rows(search: dict, summary: dict, params: dict) -> list[list]:
    """Per searched factor: the base and target domains' values, the best look's, whether it moved
    toward the target, and its importance."""
    base, target = _domain_looks(params)
    rows = []
    for name in params["simsearch"]["space"]:
        best = _best_of(search["look"], name)
        shown = f"U[{best[0]:.3f}, {best[1]:.3f}]" if isinstance(best, list) else best
        importance = next((v for k, v in search["importances"].items() if k.split(".")[0] == name), None)
        moved = "yes" if summary["toward_target"][name] else "no"
        rows.append([name, base.get(name, 0), target.get(name, 0), shown, moved, importance])
    return rows


def _attribution_tiles(explanations: Path, mixes: list[str], primary: str, methods: list[str], n: int,
                       domain: str) -> tuple[list[str], list[list[np.ndarray]]]:
    """Seam-target overlays of the first `n` images of `domain`: a row per image and model (train
    mix), a column per method, so each image's models stack above each other."""
    rows, tiles = [], []
    for k in range(n):
        for mix in mixes:
            row = []
            for method in methods:
                folder = explanations / mix / primary / method
                meta = read_json(folder / "meta.json")
                t = meta["classes"].index("seam") if "seam" in meta["classes"] else 0
                picks = [i for i, d in enumerate(meta["domains"]) if d == domain]
                if k >= len(picks):
                    return rows, tiles
                i = picks[k]
                row.append(read_image(folder / "overlays" / f"{meta['ids'][i]}_{meta['classes'][t]}.png"))
            rows.append(f"img {k + 1}: {mix}")
            tiles.append(row)
    return rows, tiles


def _png_tag(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(header: list[str], rows: list[list]) -> tuple[str, str]:
    """The same table as Markdown and as HTML."""
    fmt = lambda v: "-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))  # noqa: E731
    md = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
    md += "".join("| " + " | ".join(fmt(v) for v in row) + " |\n" for row in rows)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return md, f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def run_summarize(matrix_file: str, explanations: str, xai_scores: str, timings_dir: str, cfg: dict,
                  params: dict, out: str | os.PathLike, diagnosis_dir: str | None = None,
                  policies_file: str | None = None, simsearch_file: str | None = None,
                  experiments_dir: str | None = None, instances_dir: str | None = None,
                  instance_explanations: str | None = None, pseudolabel_dir: str | None = None,
                  image_quality: str | None = None, frontier_dir: str | None = None,
                  instance_augmented: str | None = None, run_record: str | None = None) -> dict:
    """Write metrics.json, summary.md, report.html and figures under `out`."""
    out = Path(out)
    matrix = read_json(matrix_file)
    primary = cfg["primary_model"]
    mixes = list(matrix[primary])
    policy_mixes = [f"aug_{p}" for p in cfg["policies"]] + cfg.get("pseudo_mixes", [])   # explained alike
    unexplained = cfg.get("unexplained_mixes", [])       # scored, not explained (the render search's model)
    methods_of = {mix: [] if mix in unexplained else cfg.get("policy_methods", cfg["methods"])
                  if mix in policy_mixes else cfg["methods"] for mix in mixes}
    xai = {mix: {m: read_json(Path(xai_scores) / mix / primary / f"{m}.json") for m in methods_of[mix]}
           for mix in mixes if methods_of[mix]}
    study = read_json(policies_file) if policies_file else {"policies": {}, "baselines": {}}
    metrics = build_metrics(matrix, cfg, {mix: {m: {"faithfulness": v["faithfulness"],
                                                    "localisation": v["localisation"],
                                                    "sanity_spearman": v.get("sanity", {}).get("spearman_full")}
                                                for m, v in row.items()} for mix, row in xai.items()},
                            collect_timings(timings_dir, run_record), study)
    if diagnosis_dir:
        diagnoses = {p.parent.name: read_json(p) for p in sorted(Path(diagnosis_dir).glob("*/diagnosis.json"))}
        if primary not in diagnoses:
            raise FileNotFoundError(f"{diagnosis_dir}: no diagnosis of the primary model {primary!r}")
        metrics["diagnosis"] = diagnosis_summary(diagnoses, primary)
        if "counterfactual" in metrics["diagnosis"]:
            counterfactual_report.counterfactual_figure(
                Path(explanations), [params["diagnose"]["source_mix"], params["diagnose"]["target_mix"]], primary,
                params["diagnose"]["target_class"], cfg["attribution_images"], out / "counterfactuals.png")
    figures.gap_heatmap(metrics["semantic"]["matrix"], "mIoU", out / "gap_matrix.png")
    base = [m for m in mixes if m not in policy_mixes and m not in unexplained]
    rows, tiles = _attribution_tiles(Path(explanations), base, primary, cfg["methods"], cfg["attribution_images"], "real")
    figures.attribution_grid(rows, cfg["methods"], tiles, out / "attribution_grid.png",
                             f"Seam attributions of {primary} on real test images (white: true seam)")
    best = next(iter(metrics["policies"]), None)
    side = ["sim", f"aug_{best}", "real"] if best else ["sim", "real"]
    policy_methods = cfg.get("policy_methods", cfg["methods"])
    rows, tiles = _attribution_tiles(Path(explanations), side, primary, policy_methods, cfg["attribution_images"], "real")
    figures.attribution_grid(rows, policy_methods, tiles, out / "policy_attributions.png",
                             f"sim, best policy ({best}) and real models on the same real test images")
    search = read_json(simsearch_file) if simsearch_file else None
    if search:
        metrics["simsearch"] = simsearch_summary(search, study.get("simsearch"), params)
    pseudo = Path(pseudolabel_dir) if pseudolabel_dir else None
    if pseudo:
        steps = read_json(pseudo / "steps.json")
        metrics["pseudolabel"] = pseudolabel_report.step_metrics(steps)
        metrics["pseudolabel_run"] = pseudolabel_report.run_metrics(steps, study, cfg.get("pseudo_mixes", []))
    if image_quality:
        add_image_quality(metrics, read_json(image_quality))
    frontier = Path(frontier_dir) if frontier_dir else None
    if frontier:
        metrics["frontier"] = read_json(frontier / "frontier.json")["summary"]
    figures.closure_bars(closure_entries(metrics), out / "gap_closure.png")
    experiments = Path(experiments_dir) if experiments_dir else None
    if experiments:
        metrics["ablations"] = experiments_report.ablation_metrics(read_json(experiments / "ablations.json")["variants"])
        if (experiments / "probe.json").is_file():
            metrics["probe"] = read_json(experiments / "probe.json")
    if instances_dir:
        metrics["instance"] = instance_report.instance_metrics(instances_dir, params["instance"], instance_augmented)
        instance_report.add_policy_image_quality(metrics["instance"], metrics.get("image_quality", {}).get("sets", {}))
        figures.gap_heatmap(metrics["instance"]["matrix"], "segm_AP", out / "instance_gap.png")
        instance_report.longtail_bars(metrics["instance"], out / "instance_longtail.png")
    if instance_explanations:
        metrics["instance"]["explanations"] = instance_report.explanation_summary(
            read_json(Path(instance_explanations) / "meta.json"))
    write_json(out / "metrics.json", metrics)
    _write_documents(metrics, params, out, search, Path(simsearch_file).parent if search else None, experiments,
                     Path(instance_explanations) if instance_explanations else None, pseudo, frontier)
    return metrics


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
            if name not in metrics["policies"] and not name.startswith(instance_report.INSTANCE_SET)}


def instance_figures(folder: Path) -> tuple[Path, ...]:
    """The instance explanations' figures: the attribution grid, and the counterfactuals when they were made."""
    return tuple(p for p in (folder / "attributions.png", folder / "counterfactuals.png") if p.is_file())


def frontier_rows(frontier: Path) -> list[list]:
    """A row per latent walk: its images, frontier and breakdown steps, P(target) at its start, middle and end."""
    walks = read_json(frontier / "frontier.json")["walks"]
    return [[k + 1, w["source_id"], w["target_id"], w["frontier"], w["breakdown"], w["p_target"][0],
             w["p_target"][len(w["p_target"]) // 2], w["p_target"][-1]] for k, w in enumerate(walks)]


def closure_entries(metrics: dict) -> dict:
    """The gap-closure rows: every policy, the render search's retrained model and the pseudo-label mixes."""
    extra = {"render search": metrics["simsearch"]} if metrics.get("simsearch", {}).get("gap_closed") is not None else {}
    extra |= {f"pseudo-labels: {mix}": v for mix, v in metrics.get("pseudolabel_run", {}).get("mixes", {}).items()
              if v.get("gap_closed") is not None}
    return dict(sorted({**metrics["policies"], **extra}.items(), key=lambda kv: -(kv[1]["gap_closed"] or -1e9)))


def _write_documents(metrics: dict, params: dict, out: Path, search: dict | None = None,
                     search_dir: Path | None = None, experiments: Path | None = None,
                     instance_explanations: Path | None = None, pseudo: Path | None = None,
                     frontier: Path | None = None) -> None:
    sem = metrics["semantic"]
    diagnosis_main = metrics.get("diagnosis", {})
    counterfactuals = "counterfactual" in diagnosis_main
    domains = sorted({d for row in sem["matrix"].values() for d in row})
    tables = {
        "matrix": _table(["train mix", *[f"{d} mIoU" for d in domains], *[f"real IoU {c}" for c in CLASSES],
                          "real worst-class IoU"],
                         [[mix, *[row[d]["mIoU"] for d in domains], *[row["real"]["IoU"][c] for c in CLASSES],
                           row["real"].get("worst_class_IoU")]
                          for mix, row in sem["matrix"].items()]),
        "policies": _table(["rank", "policy", "mIoU on real", "gap closed", "95 % CI", "seeds",
                            "FID (own features)", "KID (own features)"],
                           [[i + 1, p, v["mIoU_on_real"], v["gap_closed"],
                             "-" if not v.get("ci95") else f"[{v['ci95'][0]:.2f}, {v['ci95'][1]:.2f}]", v["seeds"],
                             v.get("fid"), None if v.get("kid") is None else f"{v['kid']:.4f}"]
                            for i, (p, v) in enumerate(closure_entries(metrics).items())] + unaugmented_rows(metrics)),
        "xai": _table(["train mix", "method", "Avg Drop %", "Incr. Conf. %", "Avg Retention %",
                       "Drop of Others %", "deletion AUC", "insertion AUC", "pointing game %", "seam area %",
                       "sanity Spearman"],
                      [[mix, m, *[v["faithfulness"].get("seam", {}).get(k) for k in (
                          "average_drop", "increase_in_confidence", "average_retention", "average_drop_of_others",
                          "deletion_auc", "insertion_auc")],
                        v["localisation"].get("seam", {}).get("energy_pointing_game"),
                        v["localisation"].get("seam", {}).get("seam_area"), v.get("sanity_spearman")]
                       for mix, row in metrics["explanations"].items() for m, v in row.items()]),
        "diagnosis": _table(["region", "factors", "attribution points", "ablation points", "score"],
                            [[r["region"], ", ".join(r["factors"]), r["attribution_points"], r["ablation_points"],
                              r["score"]] for r in metrics.get("diagnosis", {}).get("regions", [])]),
        "frontier": _table(["walk", "source image", "target image", "frontier step", "breakdown step",
                            *[f"P(target) at t={t}" for t in (0, 0.5, 1)]],
                           frontier_rows(frontier) if frontier else []),
        "counterfactual": _table(*counterfactual_report.counterfactual_rows(diagnosis_main)),
        "timings": _table(["stage", "seconds"], timing_rows(metrics["timings_s"])),
        "simsearch": _table(["render factor", "base domain", "target domain", "best look", "toward target",
                             "fANOVA importance"],
                            simsearch_rows(search, metrics["simsearch"], params) if search else []),
        "ablations": _table(*experiments_report.ablation_rows(metrics.get("ablations", {}))),
        "probe": _table(*experiments_report.probe_rows(metrics.get("probe", {"rows": []}))),
        "pseudolabel": _table(*pseudolabel_report.step_rows(metrics)),
        **({"instance": _table(*instance_report.matrix_rows(metrics["instance"])),
            "longtail": _table(*instance_report.longtail_rows(metrics["instance"])),
            "instance_xai": _table(*instance_report.explanation_rows(metrics["instance"].get("explanations", {}))),
            "instance_policies": _table(*instance_report.policy_rows(metrics["instance"]))}
           if "instance" in metrics else {}),
    }
    exp = params.get("experiments", {})
    gap = sem["gap"]
    headline = (f"The sim-trained model reaches {gap['sim_on_real']:.1f} mIoU on real test images, the "
                f"real-trained one {gap['real_on_real']:.1f}: a reality gap of {gap['points']:.1f} points.")
    versions = _versions()
    sections = [
        ("1. How big is the gap?", headline, "matrix", "gap_matrix.png"),
        ("2. What does each model look at?", "Seam-class attributions (Seg-Grad-CAM target: seam logits "
         "summed over the target region), their faithfulness scores on the seam target, and the rank "
         "correlation with the maps of a randomised model (sanity: near 0 is good).", "xai",
         "attribution_grid.png"),
        ("3. Why? The diagnosis", diagnosis_text(metrics["diagnosis"]) if "diagnosis" in metrics else
         "No diagnosis was run.", "diagnosis", None),
        *([("4. What would have to change? Counterfactual maps",
            counterfactual_report.counterfactual_text(diagnosis_main, params["diagnose"]["target_class"]),
            "counterfactual", "counterfactuals.png")] if counterfactuals else []),
        *([("5. The way from sim to real: generative frontier",
            frontier_report.frontier_text(metrics["frontier"], params["frontier"]["source_mix"],
                                          params["frontier"]["target_mix"], params["frontier"]["class"]),
            "frontier", (frontier / "strips.png", frontier / "gan_epochs.png"))] if frontier else []),
        ("6. Which augmentation closes how much of the gap?", "gap closed = (aug - sim) / (real - sim) on "
         "real test mIoU, per training seed (sim, real and policy models share the seed), then averaged; "
         "the interval is a Student-t 95 % CI over the seeds." + image_quality_text(metrics) + " Below: the seam "
         "attributions of the sim, best-policy and real models on the same real test images.", "policies", ("gap_closure.png", "policy_attributions.png")),
        *([("7. What should the simulator change?", simsearch_text(metrics["simsearch"], search), "simsearch",
            (search_dir / "history.png", search_dir / "importances.png"))] if search else []),
        *([("8. Does a design choice change the gap? Ablations",
            experiments_report.ablation_text(metrics["ablations"], exp["source_mix"], exp["target_mix"]), "ablations",
            experiments / "ablations.png")] if "ablations" in metrics else []),
        *([("9. Does the model rely on a spurious cue? The probe", experiments_report.probe_text(metrics["probe"]),
            "probe", experiments / "probe.png")] if "probe" in metrics else []),
        *([("10. The gap for instances: Mask R-CNN", instance_report.instance_text(metrics["instance"]), "instance",
            "instance_gap.png"),
           ("11. The long tail: box-head losses", "AP by frequency group on real test images for each box-head "
            "classification loss (cross-entropy, focal, seesaw, class-frequency re-weighting, LDAM) and "
            "training mix.", "longtail", "instance_longtail.png")] if "instance" in metrics else []),
        *([("12. Counterfactual images for the long tail", instance_report.policy_text(
            metrics["instance"], params["instance"]["augment"]), "instance_policies", None)]
          if metrics.get("instance", {}).get("policies") else []),
        *([("13. What does each Mask R-CNN look at?", "The largest object of each of the first real test images, "
            "matched by IoU to each model's detection of its category (the ground-truth box where a model missed "
            "it), explained in every model: D-RISE, Grad-CAM on the class score and on the mask head, saliency, "
            "and counterfactual maps (what would make the detector call the object by another category, or find "
            "it). Share on object = the attribution mass on the object's true mask.", "instance_xai",
            instance_figures(instance_explanations))] if instance_explanations else []),
        *([("14. Closing the gap without real pixel labels: CAM pseudo-labels", pseudolabel_report.pseudolabel_text(metrics),
            "pseudolabel", pseudo / "examples.png")] if pseudo else []),
        ("15. Run time", "Job-seconds per stage, summed over its jobs (jobs that ran side by side both count), "
         "and the wall time of the run that wrote this report.", "timings", None),
    ]
    md = ["# realitygap report", "", headline, ""]
    body = [f"<h1>realitygap report</h1><p>{html.escape(headline)}</p>"]
    for title, text, table, figure in sections:
        md += [f"## {title}", "", text, "", tables[table][0]]
        body += [f"<h2>{html.escape(title)}</h2><p>{html.escape(text)}</p>", tables[table][1]]
        for name in ((figure,) if isinstance(figure, (str, Path)) else figure or ()):
            path = name if isinstance(name, Path) else out / name     # our figures by name, others by path
            md += [f"![{path.name}]({os.path.relpath(path, out)})", ""]
            body.append(_png_tag(path, path.name))
    params_text = json.dumps(params, indent=2)
    md += ["## Parameters and software", "", "```json", params_text, "```", "",
           "| package | version |", "|---|---|", *[f"| {k} | {v} |" for k, v in versions.items()], ""]
    body += ["<h2>Parameters and software</h2>", f"<pre>{html.escape(params_text)}</pre>",
             _table(["package", "version"], [[k, v] for k, v in versions.items()])[1]]
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px}"
             "img{max-width:100%;display:block;margin:1em 0}pre{background:#f4f4f4;padding:1em;overflow:auto}")
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>realitygap report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
    write_text(out / "summary.md", "\n".join(md))
    write_text(out / "report.html", page)


def simsearch_text(summary: dict, search: dict) -> str:
    """A plain-language reading of the render search."""
    closed = summary.get("gap_closed")
    closure = ("" if closed is None else f" Retrained at full budget on the best look, the model closes {closed:.2f} "
               f"of the gap on real test images (mean of {summary['seeds']} seeds).")
    top = ", ".join(list(summary["importances"])[:3]) or "not enough complete trials to rank them"
    return (f"Optuna (TPE sampler, median pruner) ran {summary['trials']} trials ({summary['pruned']} pruned) in "
            f"{search['wall_s']:.0f} s; each rendered a training set with the trial's look, trained on a short "
            f"budget and was scored on the target domain's validation split. Best: {summary['best_val_mIoU']:.1f} "
            f"validation mIoU (trial {search['best']['number']}). Most important factors: {top}.{closure} "
            "The paste-able params override is results/simsearch/best_params.yaml.")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "realitygap": __version__}
    for name in ("torch", "mmengine", "mmcv", "mmsegmentation", "mmdet", "pycocotools", "albumentations", "optuna",
                 "snakemake", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
