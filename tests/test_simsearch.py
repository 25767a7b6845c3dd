"""The render search: its space, renderer plugins, the pruning hook, and a study that survives a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from realitygap.io import InputError, read_image, read_json
from realitygap.render.stage import run_render
from realitygap.renderers import PluginError, render_look, render_with
from realitygap.simsearch.space import check_space, look_of, raw_params, suggest
from realitygap.simsearch.study import PruningHook, open_study, search_setup
from tests.conftest import SCENE, SIM, tools_env, bench_classes

SPACE = {"seam_tint": {"choices": [0.0, 0.5]}, "fabric_texture": [0.0, 0.3], "jpeg_quality": [50, 95],
         "noise_std": {"range": [0.0, 0.04], "randomise": True}}


def test_look_of_a_trial_sets_fixed_factors_and_per_image_ranges():
    trial = optuna.trial.FixedTrial({"seam_tint": 0.0, "fabric_texture": 0.2, "jpeg_quality": 70,
                                     "noise_std.centre": 0.035, "noise_std.width": 0.02})
    params = suggest(trial, SPACE)
    look = look_of(params, SPACE, {"seam_contrast": 0.35, "seam_tint": 0.5, "noise_std": 0.01})
    assert look["factors"] == {"seam_contrast": 0.35, "seam_tint": 0.0, "fabric_texture": 0.2, "jpeg_quality": 70}
    assert look["randomise"] == {"noise_std": [0.025, 0.04]}        # centre +- width / 2, clipped to the range
    assert isinstance(params["jpeg_quality"], int)


def test_initial_look_becomes_raw_trial_params_that_map_back():
    look = {"seam_tint": 0.0, "noise_std": [0.01, 0.09]}
    params = raw_params(look, SPACE)
    assert params == {"seam_tint": 0.0, "noise_std.centre": 0.025, "noise_std.width": 0.03}   # clipped to the space
    full = dict(params, fabric_texture=0.1, jpeg_quality=80)
    assert look_of(full, SPACE, {})["randomise"]["noise_std"] == pytest.approx([0.01, 0.04])
    with pytest.raises(ValueError, match="give it as"):
        raw_params({"noise_std": 0.02}, SPACE)


def test_space_names_unknown_factors():
    with pytest.raises(ValueError, match="glitter"):
        check_space({"glitter": [0.0, 1.0]})
    with pytest.raises(ValueError, match="fabric_texture"):
        check_space({"fabric_texture": [0.3, 0.1]})


def test_randomised_render_draws_each_image_inside_the_range_on_the_base_scenes(tmp_path):
    base = run_render("sim", {"size": 48, "count": 6, "scene": SCENE, "factors": SIM}, 0, tmp_path / "sim")
    out = run_render("trial", {"size": 48, "count": 6, "scene": SCENE, "factors": SIM, "scene_domain": "sim",
                               "randomise": {"noise_std": [0.01, 0.03]}}, 0, tmp_path / "trial")
    drawn = [read_json(out / "meta" / f"trial_{i:05d}.json")["factors"]["noise_std"] for i in range(6)]
    assert all(0.01 <= v <= 0.03 for v in drawn) and len(set(drawn)) == 6
    for i in range(6):     # same scenes as the base domain: identical masks
        assert np.array_equal(read_image(base / "masks" / f"sim_{i:05d}.png"),
                              read_image(out / "masks" / f"trial_{i:05d}.png"))


def _params(count: int = 4) -> dict:
    return {"size": 48, "count": count, "scene": SCENE, "factors": SIM, "randomise": {}, "classes": bench_classes().to_json()}


def test_command_plugin_wrapping_our_renderer_gives_the_same_images(tmp_path):
    command = "realitygap render --domain plug --params @{params} --seed {seed} --out {out}/raw && " \
              "mv {out}/raw/images {out}/raw/masks {out}/"
    plugged = render_with({"type": "command", "command": command}, _params(), 0, tmp_path / "plugged", "plug")
    builtin = render_with({"type": "builtin"}, _params(), 0, tmp_path / "builtin", "plug")
    manifest = read_json(plugged / "manifest.json")
    assert len(manifest["samples"]) == 4
    assert not (tmp_path / "plugged.plugin").exists()     # the plugin's own output is removed once imported
    for sample in manifest["samples"]:
        assert np.array_equal(read_image(plugged / sample["image"]), read_image(builtin / sample["image"]))
        assert np.array_equal(read_image(plugged / sample["mask"]), read_image(builtin / sample["mask"]))


WRONG_SIZE = """import sys, cv2, numpy as np, pathlib
out = pathlib.Path(sys.argv[1])
(out / "images").mkdir(parents=True); (out / "masks").mkdir()
cv2.imwrite(str(out / "images" / "a.png"), np.zeros((32, 32, 3), np.uint8))
cv2.imwrite(str(out / "masks" / "a.png"), np.zeros((32, 32), np.uint8))
"""


@pytest.mark.parametrize("command, error, message", [
    ("echo simulator crashed >&2; exit 3", PluginError, "exit 3.*simulator crashed"),
    ("realitygap render --domain p --params @{params} --out {out}/raw && mv {out}/raw/images {out}/",
     InputError, r"masks/p_00000.png"),
    ("python {script} {out}", PluginError, "32x32 image, expected 48x48"),
])
def test_bad_command_plugin_gets_a_clear_error(tmp_path, command, error, message):
    script = tmp_path / "wrong_size.py"
    script.write_text(WRONG_SIZE)
    command = command.replace("{script}", str(script))
    with pytest.raises(error, match=message):
        render_with({"type": "command", "command": command}, _params(1), 0, tmp_path / "out", "p")
    assert not (tmp_path / "out").exists()             # nothing that looks like a finished dataset ...
    assert (tmp_path / "out.plugin").is_dir()          # ... and the plugin's output is kept to inspect


def test_unknown_entry_point_names_the_group(tmp_path):
    with pytest.raises(PluginError, match="realitygap.renderers"):
        render_look({"type": "entry_point", "name": "no_such_sim"}, _params(), {"factors": SIM}, 2, "sim", 0,
                    tmp_path / "out", "p")


def test_entry_point_plugin_is_called_with_the_params_and_validated(tmp_path, monkeypatch):
    calls = []

    def my_sim(params: dict, out: str) -> None:
        calls.append(params)
        run_render("p", {k: params[k] for k in ("size", "count", "scene", "factors")}, params["seed"], out + "/raw")
        os.rename(out + "/raw/images", out + "/images")
        os.rename(out + "/raw/masks", out + "/masks")

    found = [SimpleNamespace(name="my_sim", load=lambda: my_sim)]
    monkeypatch.setattr("importlib.metadata.entry_points",
                        lambda group, name=None: [e for e in found if name in (None, e.name)])
    out = render_look({"type": "entry_point", "name": "my_sim"}, _params(), {"factors": {"fabric_texture": 0.2}}, 3,
                      "sim", 7, tmp_path / "out", "p")
    assert calls[0]["factors"] == {"fabric_texture": 0.2} and calls[0]["seed"] == 7 and calls[0]["count"] == 3
    assert len(read_json(out / "manifest.json")["samples"]) == 3


def test_params_check_the_space_against_the_renderer():
    import yaml

    from realitygap.params import resolve
    from tests.conftest import REPO

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["simsearch"]["space"] = {"cloth_stiffness": [0.1, 0.9]}
    with pytest.raises(InputError, match="simsearch/initial/0/seam_tint: not in simsearch/space"):
        resolve(params, REPO / "workflow/schemas/params.schema.yaml")
    del params["simsearch"]["initial"]
    with pytest.raises(InputError, match="simsearch/space/cloth_stiffness: not a render factor"):
        resolve(params, REPO / "workflow/schemas/params.schema.yaml")
    params["simsearch"]["renderer"] = {"type": "command", "command": "my_sim --params {params} --out {out}"}
    assert resolve(params, REPO / "workflow/schemas/params.schema.yaml")["simsearch"]["space"]   # a plugin's own names
    params["simsearch"]["space"] = {"cloth_stiffness": [0.9, 0.1]}
    with pytest.raises(InputError, match=r"cloth_stiffness: \[0.9, 0.1\] is not a \[low, high\] range"):
        resolve(params, REPO / "workflow/schemas/params.schema.yaml")


def test_pruning_hook_stops_a_trial_below_the_median_of_finished_ones():
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    for value in (60.0, 70.0):
        trial = study.ask()
        trial.report(value, step=40)
        study.tell(trial, value)
    good, bad = PruningHook(study.ask()), PruningHook(study.ask())
    good.after_val_epoch(SimpleNamespace(iter=40), {"mIoU": 80.0})
    with pytest.raises(optuna.TrialPruned):
        bad.after_val_epoch(SimpleNamespace(iter=40), {"mIoU": 50.0})
    assert good.last == 80.0 and bad.last == 50.0


# --- the study on the tiny profile: parallel-safe storage, resume after a kill, determinism ---

TINY_SEARCH = {"base": "sim", "target": "real", "trials": 3, "workers": 1, "startup_trials": 2, "count": 8,
               "iters": 6, "report_interval": 3, "pruner": {"startup_trials": 1, "warmup_steps": 3},
               "renderer": {"type": "builtin"}, "space": SPACE}
TINY_TRAIN = {"iters": 6, "batch_size": 2, "lr": 0.003, "weight_decay": 0.0001, "checkpoint_interval": 6, "loss": "ce"}
TINY_MODEL = {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 3}


def _worker_command(rendered, root, worker: int = 0) -> list[str]:
    dataset, split = rendered["real"]
    return [sys.executable, "-m", "realitygap.cli", "simsearch", "worker",
            "--params", json.dumps(TINY_SEARCH), "--render", json.dumps({"size": 48, "scene": SCENE, "base": SIM}),
            "--train", json.dumps(TINY_TRAIN), "--model", json.dumps(TINY_MODEL),
            "--val-sources", json.dumps([{"dataset": str(dataset), "split": str(split)}]), "--seed", "0",
            "--device", "cpu", "--root", str(root), "--worker", str(worker), "--out", str(root / f"worker{worker}.json")]


def _mid_trial(study: optuna.Study) -> bool:
    """At least one trial finished and the next one running."""
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return TrialState.RUNNING in states and sum(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states) >= 1


def _study(rendered, root) -> optuna.Study:
    dataset, split = rendered["real"]
    setup = search_setup(TINY_SEARCH, {"size": 48, "scene": SCENE, "base": SIM}, TINY_TRAIN, TINY_MODEL,
                         [{"dataset": str(dataset), "split": str(split)}], 0, root, "cpu")
    return open_study(setup)


def _finished(rendered, root) -> list[tuple]:
    """(params, state, value) of the finished trials, in order."""
    return [(t.params, t.state, t.value) for t in _study(rendered, root).get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


@pytest.mark.slow
def test_killed_search_continues_the_study_and_ends_as_an_uninterrupted_one(rendered, tmp_path):
    env = dict(tools_env(), OMP_NUM_THREADS="1")
    reference = tmp_path / "reference"
    done = subprocess.run(_worker_command(rendered, reference), capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_worker_command(rendered, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    deadline = time.time() + 300
    while not (killed / "study.journal").exists() or not _mid_trial(_study(rendered, killed)):
        assert proc.poll() is None and time.time() < deadline, "the worker ended before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)            # mid-trial: one finished, the next one running
    proc.wait()
    before = _finished(rendered, killed)
    assert 1 <= len(before) < 3

    resumed = subprocess.run(_worker_command(rendered, killed), capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = read_json(killed / "worker0.json")
    assert len(summary["requeued"]) == 1           # the interrupted trial was queued again ...
    after = _finished(rendered, killed)
    assert after[:len(before)] == before           # ... the finished ones were kept ...
    assert len(after) == 3 and after == _finished(rendered, reference)   # ... and it ends as if never killed


def test_the_search_starts_from_the_diagnosis_top_causes_moved_toward_the_target():
    from realitygap.simsearch.space import diagnosed_look, raw_params

    space = {"seam_stitch": {"range": [0.0, 0.6], "randomise": True}, "noise_std": [0.0, 0.04],
             "seam_tint": {"choices": [0.0, 0.5]}, "vignetting": [0.0, 0.3]}
    base, target = {"seam_contrast": 0.35, "seam_tint": 0.5}, {"seam_stitch": 0.5, "noise_std": 0.03, "vignetting": 0.4}
    causes = ["seam_contrast", "seam_stitch", "fold_shading", "seam_tint", "vignetting", "noise_std"]
    look = diagnosed_look(causes, space, base, target, top=3)
    assert look == {"seam_stitch": [0, 0.5], "seam_tint": 0, "vignetting": 0.3}     # not in the space: skipped
    assert diagnosed_look(causes, space, base, target, top=1) == {"seam_stitch": [0, 0.5]}
    assert raw_params(look, space) == {"seam_stitch.centre": 0.25, "seam_stitch.width": 0.5, "seam_tint": 0,
                                       "vignetting": 0.3}
