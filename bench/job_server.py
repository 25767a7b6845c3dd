"""What the job server (`realitygap.preload`) saves: the same `realitygap` jobs run as their own processes
and through the server's forks, side by side in one run, alternating, median of repeats. With
`--workflow`, also the whole tiny profile (the test suite's end-to-end run) from scratch both ways.

The jobs: a tiny render, a 4-iteration training, a prediction and a saliency explanation of that model
(the shapes of the workflow's jobs at the tiny budget, where a job is mostly its imports).

Run: .venv/bin/python bench/job_server.py [--repeats 5] [--workflow]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from common import save

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCENE = {"towels_min": 1, "towels_max": 2, "towel_size": [0.35, 0.7], "seam_width": [4.0, 6.0],
         "hem_inset": [2.0, 5.0], "inner_seam_prob": 0.3, "crumple": 4.0,
         "states": {"flat": 0.3, "crumpled": 0.4, "folded": 0.3}, "categories": {"bath_towel": 1.0}}
MODEL = {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 3}
EXPLAIN = {"batch_size": 16, "box": [0, 0, 48, 48], "num_images": 2, "options": {"saliency": {}}, "region": "truth",
           "target_classes": ["towel", "seam"], "target_layer": "decode_head.conv_seg:input"}
TRAIN = {"iters": 4, "batch_size": 2, "lr": 0.003, "weight_decay": 0.0001, "checkpoint_interval": 4, "loss": "ce"}


def env(server: str | None) -> dict:
    base = {k: v for k, v in os.environ.items() if k != "REALITYGAP_PRELOAD"}
    base["PATH"] = f"{BIN}{os.pathsep}{base['PATH']}"
    base["OMP_NUM_THREADS"] = "1"
    return dict(base, REALITYGAP_PRELOAD=server) if server else dict(base, REALITYGAP_NO_PRELOAD="1")


def jobs(work: Path) -> dict[str, list[str]]:
    data, split, model = work / "sim", work / "sim.json", work / "model"
    sources = json.dumps([{"dataset": str(data), "split": str(split), "fraction": 1.0}])
    return {
        "render": ["render", "--domain", "sim", "--params", json.dumps({"size": 48, "count": 8, "scene": SCENE,
                   "factors": {"seam_contrast": 0.35}}), "--seed", "1", "--out", str(work / "r")],
        "train": ["train", "--sources", sources, "--model", json.dumps(MODEL), "--params", json.dumps(TRAIN),
                  "--size", "48", "--mix", "sim", "--out", str(work / "t")],
        "predict": ["predict", "--weights", str(model / "model.pth"), "--model", json.dumps(MODEL), "--size", "48",
                    "--dataset", str(data), "--split", str(split), "--out", str(work / "p")],
        "explain": ["explain", "--weights", str(model / "model.pth"), "--model", json.dumps(MODEL), "--size", "48",
                    "--method", "saliency", "--seed", "0", "--params", json.dumps(EXPLAIN),
                    "--datasets", json.dumps({"sim": [str(data), str(split)]}), "--out", str(work / "e")],
    }


def run(args: list[str], environment: dict, cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run([str(BIN / "realitygap"), *args], env=environment, cwd=cwd, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return time.perf_counter() - started


def prepare(work: Path) -> None:
    """The data and model the timed jobs read."""
    plain = env(None)
    run(jobs(work)["render"][:-1] + [str(work / "sim")], plain, work)
    run(["split", "--dataset", str(work / "sim"), "--params", json.dumps({"fractions": {"train": 0.5, "val": 0.25,
         "test": 0.25}}), "--seed", "0", "--out", str(work / "sim.json")], plain, work)
    run(jobs(work)["train"][:-1] + [str(work / "model")], plain, work)


def time_jobs(work: Path, server: str, repeats: int) -> dict:
    """Per job: median seconds as its own process and through the server, alternating."""
    out = {}
    for name, args in jobs(work).items():
        own, forked = [], []
        for _ in range(repeats):
            own.append(run(args, env(None), work))
            forked.append(run(args, env(server), work))
        out[name] = {"own_process_s": round(statistics.median(own), 2), "server_s": round(statistics.median(forked), 2),
                     "ratio": round(statistics.median(own) / statistics.median(forked), 2)}
        print(name, out[name], flush=True)
    return out


def time_workflow(work: Path, server_on: bool) -> dict:
    """The tiny profile from scratch with the server or without (Snakemake starts it when allowed)."""
    folder = work / ("with_server" if server_on else "without")
    folder.mkdir()
    params = yaml.safe_load((REPO / "params.yaml").read_text()) | {"profile": "tiny"}
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    environment = env(None)
    environment.pop("OMP_NUM_THREADS")
    if server_on:
        environment.pop("REALITYGAP_NO_PRELOAD")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                             str(folder), "--cores", "2"], env=environment, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    seconds = time.perf_counter() - started
    jobs_done = sum(1 for line in result.stderr.splitlines() if line.startswith("Finished job"))
    return {"wall_s": round(seconds, 1), "jobs": jobs_done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workflow", action="store_true", help="also time the tiny profile both ways")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from realitygap import preload

    result = {"repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepare(work)
        server = preload.start(work / "server.log")
        address = os.environ.pop(preload.ENV)
        try:
            result["jobs"] = time_jobs(work, address, args.repeats)
        finally:
            preload.stop(server)
        if args.workflow:
            result["tiny_workflow"] = {"own_processes": time_workflow(work, False),
                                       "server": time_workflow(work, True)}
            w = result["tiny_workflow"]
            w["ratio"] = round(w["own_processes"]["wall_s"] / w["server"]["wall_s"], 2)
            print(w, flush=True)
    command = "python bench/job_server.py" + (" --workflow" if args.workflow else "") + f" --repeats {args.repeats}"
    print(save("job_server", command, result))


if __name__ == "__main__":
    main()
