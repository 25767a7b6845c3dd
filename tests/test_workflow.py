"""End to end: the whole Snakemake DAG on the tiny profile, then a no-op rerun."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import (REPO, TINY_RUN_WALL_S, snakemake, snakemake_command, tools_env, wait_for_checkpoint,
                            write_params)

pytestmark = pytest.mark.slow


def test_tiny_run_writes_matrix_explanations_and_report(tiny_run):
    metrics = json.loads((tiny_run / "results/report/metrics.json").read_text())
    matrix = metrics["semantic"]["matrix"]
    policies = ["camera", "style", "randomise", "baseline", "xai_guided", "counterfactual", "camera_style"]
    pseudo = ["sim+pseudo_real", "pseudo_real"]
    assert set(matrix) == {"sim", "real", "sim+real10", "searched", *pseudo, "uda_sim", "uda_randomise", "uda_pseudo",
                           *(f"aug_{p}" for p in policies)}
    for row in matrix.values():
        assert set(row) == {"sim", "real"}
        for cell in row.values():
            assert 0 <= cell["mIoU"] <= 100 and set(cell["IoU"]) == {"background", "towel", "seam"}
    gap = metrics["semantic"]["gap"]
    assert gap["points"] == pytest.approx(gap["real_on_real"] - gap["sim_on_real"], abs=0.01)
    assert set(metrics["policies"]) == set(policies)
    closures = [v["gap_closed"] for v in metrics["policies"].values()]
    assert closures == sorted(closures, reverse=True)                     # ranked, best first
    for v in metrics["policies"].values():                                 # 2 seeds in the tiny profile
        assert v["seeds"] == 2 and set(v["gap_closed_per_seed"]) == {"seed0", "seed1"}
        assert v["ci95"][0] <= v["gap_closed"] <= v["ci95"][1]
    assert (tiny_run / "results/replicates/seed1/models/aug_xai_guided/unet/model.pth").exists()
    assert not (tiny_run / "results/models/aug_camera/aspp").exists()   # policies retrain the primary model
    assert (tiny_run / "data/augmented/camera_style/manifest.json").exists()
    assert "train" in metrics["timings_s"]
    rules = metrics["timings_s"]["rules"]                  # Snakemake's benchmark of every job, per rule
    assert rules["train"]["jobs"] >= 2 and rules["train"]["cpu_s"] > 0 and rules["diagnose"]["max_rss_mb"] > 0
    for method in ("gradcam", "saliency", "minmax_cam", "rise"):
        folder = tiny_run / "results/explanations/real/unet" / method
        assert (folder / "maps.npz").exists() and list((folder / "overlays/real").glob("*.png"))
        xai = metrics["explanations"]["sim"][method]
        assert {"average_drop", "average_retention", "deletion_auc", "insertion_auc"} <= set(xai["faithfulness"]["seam"])
        assert "energy_pointing_game" in xai["localisation"]["seam"]
        assert -1 <= xai["sanity_spearman"] <= 1
    assert not (tiny_run / "results/explanations/real/aspp").exists()     # explain/models: [unet]
    diagnosis = json.loads((tiny_run / "results/explanations/diagnosis/unet/diagnosis.json").read_text())
    assert {r["region"] for r in diagnosis["regions"]} == {"table", "towel", "seam", "fringe", "corners", "defocus"}
    assert set(diagnosis["cka"]["real"]) == set(yaml.safe_load((REPO / "params.yaml").read_text())
                                               ["profiles"]["tiny"]["diagnose"]["cka_layers"])
    assert metrics["diagnosis"]["ranked_causes"] == diagnosis["ranked_causes"]
    transplanted = {r["factors"][0] for r in diagnosis["transplant"]["factors"]}     # every factor sim and real differ in
    assert transplanted == {"seam_contrast", "seam_tint", "seam_stitch", "seam_ridge", "fabric_texture", "fold_shading",
                            "light_gradient", "table_texture", "table_photo", "depth_of_field", "chromatic_aberration",
                            "vignetting", "noise_std", "shot_noise", "jpeg_quality"}
    effects = {f["factor"]: f for f in metrics["diagnosis"]["factors"]}
    assert set(effects) == transplanted and all(f["score_ci"][0] <= f["score_points"] <= f["score_ci"][1]
                                               and "reliance_points" in f for f in effects.values())
    gains = {r["factors"][0]: r["gain_points"] for r in diagnosis["finetune"]["factors"]}   # the fine-tune evidence
    assert set(gains) == transplanted and all(effects[f]["finetune_points"] == g for f, g in gains.items())
    assert diagnosis["finetune"]["iters"] == 4 and 0 <= diagnosis["finetune"]["control_miou"] <= 100
    assert [p["factors"] for p in metrics["diagnosis"]["pairs"]] == [[r["factors"][0] for r in diagnosis["transplant"]
                                                                      ["factors"][:2]]]     # tiny: pairs of the top 2
    assert (tiny_run / "results/report/factor_effects.png").is_file()
    for role in ("source", "target"):                                      # counterfactuals of sim and real models
        cf = diagnosis["counterfactual"][role]["real"]
        assert cf["counterfactuals"] >= 1 and 0 <= cf["flip_rate"] <= 100 and "seam" in cf["share"]
    assert metrics["diagnosis"]["counterfactual"] == diagnosis["counterfactual"]
    with np.load(tiny_run / "results/explanations/sim/unet/counterfactual/arrays.npz") as arrays:
        assert arrays["counterfactual"].shape == (*arrays["after"].shape, 3)
    quality = metrics["image_quality"]["sets"]
    assert set(quality) == {"no augmentation (sim)", "real test", *policies, "instances: baseline",
                            "instances: counterfactual"}
    assert all(v["fid"] >= 0 and v["images"] > 0 and 1 <= v["is"] <= 3 for v in quality.values())
    assert all(metrics["policies"][p]["fid"] == quality[p]["fid"] for p in policies)
    csv = (tiny_run / "results/scores/matrix.csv").read_text().splitlines()
    assert csv[0].startswith("model,mix,domain,mIoU") and len(csv) == 1 + 2 * (2 * 3 + len(policies) + 1 + len(pseudo) + 3)
    html = (tiny_run / "results/report/report.html").read_text()
    assert html.count("<img") == 18 and "data:image/png;base64," in html     # 10, ablations, probe, 4 instance, pseudo, UDA
    assert "Counterfactual maps" in html and "FID (own features)" in html and "generative frontier" in html
    assert "<td>no augmentation (sim)</td>" in html                        # the reference row of the policy table
    frontier = json.loads((tiny_run / "results/explanations/frontier/unet/frontier.json").read_text())
    assert metrics["frontier"] == frontier["summary"] and frontier["summary"]["pairs"] == 2
    assert len(frontier["gan"]) == 2 and all(len(w["p_target"]) == 5 for w in frontier["walks"])
    assert "reality gap" in (tiny_run / "results/report/summary.md").read_text()


def test_tiny_run_total_time_is_the_runs_wall_time(tiny_run):
    """timings_s.total is the wall time of the run that wrote the report (issue 30), not the job-seconds:
    on 2 cores jobs run side by side, so their sum exceeds it."""
    timings = json.loads((tiny_run / "results/report/metrics.json").read_text())["timings_s"]
    wall = TINY_RUN_WALL_S["seconds"]
    assert wall - 15 <= timings["total"] <= wall, (timings["total"], wall)
    stages = sum(v for k, v in timings.items() if k not in ("total", "job_seconds_total", "rules"))
    assert timings["job_seconds_total"] == pytest.approx(stages, abs=0.1)
    jobs_wall = sum(rule["wall_s"] for rule in timings["rules"].values())    # each job's own wall time, summed
    assert jobs_wall > timings["total"]


def test_tiny_run_outputs_honour_the_umask(tiny_run):
    """Run under umask 0022: every kind of output is readable by the group and others (issue 30)."""
    for name in ("results/report/report.html", "results/report/metrics.json", "results/report/gap_matrix.png",
                 "results/models/sim/unet/model.pth", "results/models/sim/unet/train.json",
                 "results/explanations/real/unet/gradcam/maps.npz", "data/splits/sim.json"):
        assert (tiny_run / name).stat().st_mode & 0o777 == 0o644, name
    for name in ("data/raw/sim", "data/raw/sim/images", "data/augmented/camera", "results/explanations/real/unet/gradcam"):
        assert (tiny_run / name).stat().st_mode & 0o777 == 0o755, name


def test_tiny_run_pseudo_labels_the_real_images_and_trains_on_them(tiny_run):
    """CAM priors -> CRF -> affinity -> final labels, scored against the held-out masks; the pseudo-label mixes
    trained at every gap-closure seed and compared in the report."""
    metrics = json.loads((tiny_run / "results/report/metrics.json").read_text())
    steps = metrics["pseudolabel"]
    assert list(steps) == ["prior_gradcam", "prior_minmax_cam", "prior_dminmax_gradcam", "saliency", "crf", "affinity",
                           "final"]
    assert all(0 <= s["mIoU_vs_truth"] <= 100 and 0 < s["coverage"] <= 100 for s in steps.values())
    assert all(s["coverage"] == 100 for name, s in steps.items() if name != "final")
    run = metrics["pseudolabel_run"]
    assert run["tags"] == "masks" and run["labelled"] + len({c["image"] for c in run["contradicted"]}) == run["images"]
    assert run["classifier_training"] == "P-NOC"           # the tiny profile's second stage
    assert (tiny_run / "results/pseudolabel/real/classifier/work_dir_erasing").is_dir()
    split = json.loads((tiny_run / "data/splits/real.json").read_text())
    written = json.loads((tiny_run / "data/pseudolabel/real/manifest.json").read_text())["samples"]
    assert {s["id"] for s in written} <= {e["id"] for e in split["train"]}      # never a test image
    for mix in ("sim+pseudo_real", "pseudo_real"):
        assert run["mixes"][mix]["seeds"] == 2 and set(run["mixes"][mix]["gap_closed_per_seed"]) == {"seed0", "seed1"}
        assert (tiny_run / f"results/replicates/seed1/models/{mix}/unet/model.pth").exists()
        assert (tiny_run / f"results/explanations/{mix}/unet/gradcam/maps.npz").exists()
    train = json.loads((tiny_run / "results/models/sim+pseudo_real/unet/train.json").read_text())
    sim_train = json.loads((tiny_run / "data/splits/sim.json").read_text())["train"]
    assert train["train_samples"] == len(sim_train) + len(written) and train["val_samples"] > 0
    summary = (tiny_run / "results/report/summary.md").read_text()
    assert "Closing the gap without real pixel labels" in summary and "| crf |" in summary
    assert "The tag classifier's training: P-NOC." in summary and "| saliency |" in summary
    assert "pseudo-labels: sim+pseudo_real" in summary                    # in the gap-closure ranking


def test_tiny_run_self_trains_on_the_unlabeled_real_images(tiny_run):
    """The UDA mix: a mean teacher from the sim model on sim labels and real images, at every gap-closure seed,
    ranked with the policies, its attributions compared with the real model's before and after."""
    metrics = json.loads((tiny_run / "results/report/metrics.json").read_text())
    uda = metrics["uda"]
    assert uda["target"] == "real" and set(uda["mixes"]) == {"uda_sim", "uda_randomise", "uda_pseudo"}
    assert uda["mixes"]["uda_randomise"]["source"] == uda["mixes"]["uda_randomise"]["start"] == "aug_randomise"
    assert uda["mixes"]["uda_pseudo"]["start"] == "sim+pseudo_real" and uda["mixes"]["uda_pseudo"]["seeds"] == 2
    entry = uda["mixes"]["uda_sim"]
    assert entry["source"] == "sim" and entry["start"] == "sim" and entry["seeds"] == 2
    assert entry["ci95"][0] <= entry["gap_closed"] <= entry["ci95"][1]
    assert set(entry["attribution_change"]) == {"gradcam"}
    assert all(-1 <= v <= 1 for v in entry["attribution_change"]["gradcam"].values())
    for root in ("results", "results/replicates/seed1"):
        train = json.loads((tiny_run / root / "models/uda_sim/unet/train.json").read_text())
        assert train["target_samples"] == len(json.loads((tiny_run / "data/splits/real.json").read_text())["train"])
        assert train["start"] == f"{root}/models/sim/unet/model.pth" and train["uda"]["alpha"] == 0.999
        assert train["loss"] == "ce" and train["model"]["loss"] == "ce"       # the student's source loss
    assert (tiny_run / "results/explanations/uda_sim/unet/gradcam/maps.npz").exists()
    summary = (tiny_run / "results/report/summary.md").read_text()
    assert "self-training: uda_sim" in summary and "Closing the gap with unlabeled real images" in summary
    assert (tiny_run / "results/report/uda_attributions.png").is_file()


def test_tiny_run_scores_the_instance_track(tiny_run):
    """Mask R-CNN on every mix at the main loss and the long-tail losses on theirs, scored on each test split."""
    metrics = json.loads((tiny_run / "results/report/metrics.json").read_text())["instance"]
    assert metrics["loss"] == "seesaw" and set(metrics["matrix"]) == {"sim", "real", "sim+real10"}
    for row in metrics["matrix"].values():
        assert set(row) == {"sim", "real"}
        for cell in row.values():
            assert {"segm_AP", "bbox_AP", "AP_r", "AP_c", "AP_f"} <= set(cell) and 0 <= cell["segm_AP"] <= 100
    assert set(metrics["longtail"]) == {"ce", "seesaw"} and set(metrics["longtail"]["ce"]) == {"sim"}
    train = json.loads((tiny_run / "results/instances/models/sim/ce/train.json").read_text())
    assert train["loss_cls"]["type"] == "CrossEntropyLoss" and train["iters"] == 6
    summary = (tiny_run / "results/report/summary.md").read_text()
    assert "The gap for instances: Mask R-CNN" in summary and "| ce | sim |" in summary
    explained = metrics["explanations"]                       # the same objects in the sim and real models
    assert set(explained) == {"sim", "real"} and set(explained["sim"]["share_on_object"]) == {
        "drise", "instance_gradcam", "gradcam_mask", "instance_saliency", "instance_counterfactual"}
    assert all(0 <= v <= 1 for e in explained.values() for v in e["share_on_object"].values())
    meta = json.loads((tiny_run / "results/instances/explanations/meta.json").read_text())
    rows = meta["models"]["sim"]["counterfactual"]["instance_counterfactual"]["rows"]
    assert len(rows) == 2 and all(r["direction"] in ("relabel", "find") for r in rows)
    assert (tiny_run / "results/instances/explanations/counterfactuals.png").exists()
    policies = metrics["policies"]                            # counterfactual augmentation beside the baseline
    assert list(policies) == ["no augmentation", "baseline", "counterfactual"]
    assert all(set(p["scores"]) == {"sim", "real"} and p["fid"] >= 0 for p in policies.values())
    made = policies["counterfactual"]["augment"]
    assert made["images"] >= policies["baseline"]["augment"]["images"] > 0 and made["unreached"] == []
    assert all(n >= 8 for n in made["image_counts_after"].values()) and 0 <= made["flip_rate"] <= 1
    train = json.loads((tiny_run / "results/instances/models/inst_counterfactual/seesaw/train.json").read_text())
    sim_train = json.loads((tiny_run / "results/instances/models/sim/seesaw/train.json").read_text())
    assert train["train_images"] == sim_train["train_images"] + made["images"] and train["iters"] == sim_train["iters"]
    assert "Counterfactual images for the long tail" in summary


def test_tiny_run_searches_the_render_look_and_retrains_on_the_best(tiny_run):
    from realitygap.params import deep_merge, resolve

    search = json.loads((tiny_run / "results/simsearch/search.json").read_text())
    assert search["trials"] == 3 == search["complete"] + search["pruned"] and search["fail"] == 0
    assert [t["number"] for t in search["history"]] == [0, 1, 2]
    summary = json.loads((tiny_run / "results/report/metrics.json").read_text())["simsearch"]
    assert summary["trials"] == 3 and summary["seeds"] == 2 and summary["gap_closed"] is not None
    look = search["look"]
    assert summary["best_params"]["randomise"] == look["randomise"] and len(look["randomise"]) == 14
    from realitygap.simsearch.space import diagnosed_look, raw_params

    cfg = resolve(yaml.safe_load((tiny_run / "params.yaml").read_text()), REPO / "workflow/schemas/params.schema.yaml")
    causes = json.loads((tiny_run / "results/explanations/diagnosis/unet/diagnosis.json").read_text())["ranked_causes"]
    diagnosed = raw_params(diagnosed_look(causes, cfg["simsearch"]["space"], cfg["render"]["domains"]["sim"],
                                          cfg["render"]["domains"]["real"], cfg["simsearch"]["diagnosed_start"]),
                           cfg["simsearch"]["space"])
    first, second = search["history"][0]["params"], search["history"][1]["params"]
    assert len(diagnosed) == 8 and all(first[k] == pytest.approx(v) for k, v in diagnosed.items())   # the diagnosis'
    assert second["seam_tint.centre"] == 0.25 and second["seam_tint.width"] == 0.5   # then the randomise policy's ranges
    assert (tiny_run / "results/replicates/seed1/scores/searched/unet/real.json").exists()
    # the override is paste-able: merged into params.yaml it passes the schema and renders `sim` with the best look
    params = yaml.safe_load((tiny_run / "params.yaml").read_text())
    override = yaml.safe_load((tiny_run / "results/simsearch/best_params.yaml").read_text())
    merged = resolve(deep_merge(params, override), REPO / "workflow/schemas/params.schema.yaml")
    assert merged["render"]["domains"]["sim"]["randomise"] == look["randomise"]
    searched = json.loads((tiny_run / "data/raw/searched/manifest.json").read_text())
    assert searched["randomise"] == look["randomise"] and len(searched["samples"]) == 24


def test_tiny_run_trains_scores_and_explains_the_ablation_grid_and_the_probe(tiny_run):
    params = yaml.safe_load((tiny_run / "params.yaml").read_text())
    tiny = params["profiles"]["tiny"]["experiments"]
    variants = ["base", *[c["name"] for c in tiny["changes"]], *[f"loss-{v}" for v in tiny["grid"]["loss"]]]
    root = tiny_run / "results/experiments"
    for variant in variants:
        for seed in ("seed0", "seed1"):
            for mix in ("sim", "real"):
                scores = json.loads((root / f"ablations/{variant}/{seed}/{mix}/scores.json").read_text())
                assert set(scores["test"]) == {"sim", "real"} and 0 <= scores["train"]["mIoU"] <= 100
                assert "domain=real" in scores["groups"] and scores["worst_group_IoU"] is not None
        assert (root / f"ablations/{variant}/explanations/gradcam/maps.npz").exists()
    ablations = json.loads((tiny_run / "results/report/metrics.json").read_text())["ablations"]
    assert list(ablations) == variants
    assert ablations["base"]["delta"]["gap_points"] == 0 and ablations["skips_off"]["seeds"] == 2
    for entry in ablations.values():
        assert {"mIoU_test", "worst_group_IoU", "gap_points"} <= set(entry)
    probe = json.loads((root / "probe.json").read_text())
    assert [r["strength"] for r in probe["rows"]] == sorted(tiny["probe"]["strengths"])
    assert all(0 <= r["mass_on_cue"] <= 1 for r in probe["rows"])
    summary = (tiny_run / "results/report/summary.md").read_text()
    assert "Ablations" in summary and "probe.png" in summary and "ablations.png" in summary


def test_second_run_does_nothing(tiny_run):
    result = snakemake(tiny_run)
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_snakemake_report_carries_our_figures(tiny_run, tmp_path):
    """`snakemake --report` embeds the figures that summarize declares with report(), with captions."""
    report = tmp_path / "workflow_report.html"
    result = snakemake(tiny_run, "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    html = report.read_text()
    for name in ("gap_matrix.png", "attribution_grid.png", "gap_closure.png", "policy_attributions.png",
                 "history.png", "importances.png"):
        assert f"Adding {name}" in result.stderr + result.stdout and name in html
    assert "Share of the reality gap each augmentation policy" in html             # captions
    assert "fANOVA importance of each searched render parameter" in html
    assert html.count("data:image/png;charset=utf8;filename=") >= 6                # embedded, not linked


def test_out_of_schema_param_stops_the_run_naming_it(tiny_run, tmp_path):
    params = yaml.safe_load((tiny_run / "params.yaml").read_text())
    params["train"]["lr"] = -1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = snakemake(tmp_path, "--dry-run")
    assert result.returncode != 0
    assert "train/lr" in result.stdout + result.stderr


def test_ingested_domain_enters_the_workflow_and_dvc_tracks_it(tiny_run, tmp_path):
    from realitygap.ingest.export import export_mask_folders

    class_map = export_mask_folders(tiny_run / "data/raw/real", tmp_path / "photos")
    params = yaml.safe_load((tiny_run / "params.yaml").read_text())
    params["ingest"] = {"mine": {"format": "masks", "images": str(tmp_path / "photos/images"),
                                 "masks": str(tmp_path / "photos/masks"), "class_map": class_map}}
    work = tmp_path / "work"
    work.mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    result = snakemake(work, "data/splits/mine.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((work / "data/splits/mine.json").read_text())["test"]

    dvc = [str(Path(sys.executable).parent / "dvc")]
    for cmd in (["git", "init", "-q"], dvc + ["init", "-q"], dvc + ["add", "-q", "data/raw/mine"]):
        subprocess.run(cmd, cwd=work, check=True, capture_output=True)
    status = subprocess.run(dvc + ["status"], cwd=work, capture_output=True, text=True, check=True)
    assert "up to date" in status.stdout


def browser():
    """Headless Chromium through Selenium, with the system's chromedriver (no download)."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "chromium and chromedriver are missing: run scripts/install_browser.sh"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def page_problems(driver, page: Path) -> tuple[list[str], list[str]]:
    """(images that did not load, console errors) of a page."""
    driver.get(page.as_uri())
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
    broken = [alt for alt, ok in images if not ok]
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return broken, errors


def test_report_renders_in_chromium(tiny_run):
    """Every figure of report.html loads and the page logs no error; a screenshot is kept beside it.
    A copy with a broken image must be caught, so the check itself can fail."""
    report = tiny_run / "results/report/report.html"
    broken_copy = tiny_run / "broken.html"
    broken_copy.write_text(report.read_text().replace('src="data:image/png;base64,', 'src="data:image/png;base64,X', 1))
    driver = browser()
    try:
        assert page_problems(driver, report) == ([], [])
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, height)
        driver.save_screenshot(str(tiny_run / "results/report/screenshot.png"))
        broken, errors = page_problems(driver, broken_copy)
        assert len(broken) == 1 and errors
    finally:
        driver.quit()
    assert (tiny_run / "results/report/screenshot.png").stat().st_size > 10_000


def test_interrupted_run_resumes_training_to_the_same_model(tmp_path):
    """Ctrl-C during training, start again: the job resumes from its checkpoint, and the weights equal an
    uninterrupted run's."""
    import signal
    import torch

    target = "results/models/sim/unet/model.pth"
    profiles = yaml.safe_load((REPO / "params.yaml").read_text())["profiles"]
    profiles["tiny"]["train"] |= {"iters": 300, "checkpoint_interval": 20}
    whole, cut = (write_params(tmp_path / name, profiles=profiles) for name in ("whole", "cut"))
    assert snakemake(whole, target).returncode == 0

    # A terminal's Ctrl-C reaches processes whose SIGINT is not ignored; a test run started in the background
    # of a shell inherits an ignored SIGINT, so the child gets the default back.
    proc = subprocess.Popen(snakemake_command(cut, target), env=tools_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for_checkpoint(cut / "results/models/sim/unet/work_dir", proc)
    os.killpg(proc.pid, signal.SIGINT)     # Ctrl-C: the terminal signals snakemake and its jobs
    proc.wait(timeout=120)
    assert not (cut / target).exists(), "training ended before the run could be interrupted"

    again = snakemake(cut, target)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Advance dataloader" in (cut / "logs/train/sim/unet.log").read_text()
    expected, resumed = (torch.load(w / target, weights_only=True) for w in (whole, cut))
    for key in expected:
        torch.testing.assert_close(resumed[key], expected[key], rtol=0, atol=0)


def test_the_whole_workflow_runs_on_a_task_of_its_own(tmp_path):
    """The whole DAG on a task our renderer did not make (tests/byo_task.py): four classes under other names,
    64x48 renders with depth and a render-parameter table, 80x60 photos, a frozen mmseg model of the task's own
    config and checkpoint, and its generator as the command-renderer plugin of the search and of `randomise`."""
    from tests.byo_task import CLASSES, write_task

    write_task(tmp_path, REPO)
    result = snakemake(tmp_path)
    assert result.returncode == 0, result.stderr[-5000:]
    metrics = json.loads((tmp_path / "results/report/metrics.json").read_text())
    for row in metrics["semantic"]["matrix"].values():
        assert set(row) == {"sim", "real"}
        assert all(list(cell["IoU"]) == CLASSES["names"] for cell in row.values())
    assert {"sim", "real", "sim+real10", "searched", "aug_randomise", "uda_sim"} <= set(metrics["semantic"]["matrix"])
    adapted = json.loads((tmp_path / "results/models/uda_sim/mine/train.json").read_text())   # the user's model, adapted
    assert adapted["start"] == "results/models/sim/mine/model.pth" and adapted["target_samples"] > 0
    assert metrics["uda"]["mixes"]["uda_sim"]["seeds"] == 1
    assert json.loads((tmp_path / "results/models/sim/mine/train.json").read_text())["frozen"] is True
    with np.load(tmp_path / "results/predictions/sim/mine/real.npz") as data:
        assert data["pred"].shape[1:] == (60, 80)                      # each domain at its own size
    assert set(metrics["explanations"]["sim"]["gradcam"]["localisation"]) == {"toe", "heel"}
    diagnosis = json.loads((tmp_path / "results/explanations/diagnosis/mine/diagnosis.json").read_text())
    assert diagnosis["class"] == "toe" and {"floor", "sock", "heel", "toe"} <= {r["region"] for r in diagnosis["regions"]}
    assert diagnosis["transplant"]["kind"] == "image statistics"          # the photos have no look to render
    assert {f["factor"] for f in metrics["diagnosis"]["factors"]} == {"noise", "sharpness", "spectrum_slope", "colour",
                                                                      "blockiness"}
    manifest = json.loads((tmp_path / "data/raw/sim/manifest.json").read_text())
    assert set(manifest["factors"]) == {"noise", "toe_contrast", "stripes"}
    randomised = json.loads((tmp_path / "data/augmented/randomise/manifest.json").read_text())
    assert randomised["classes"]["names"] == CLASSES["names"]
    assert metrics["simsearch"]["trials"] >= 1 and set(metrics["simsearch"]["best_params"]) >= {"stripes"}
    html = (tmp_path / "results/report/report.html").read_text()
    assert "real IoU toe" in html and "towel" not in html.split("Parameters and software")[0]
