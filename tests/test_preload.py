"""The job server (`realitygap.preload`): a job run by its fork gives what a fresh process gives, with the
job's own folder, environment, stdio and exit status; a killed client kills its job; no server, no change."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch

from realitygap import preload
from realitygap.chapters.timings import rule_benchmarks
from tests.conftest import tools_env

MODEL = {"arch": "unet", "base_channels": 8, "num_stages": 3, "num_classes": 3}
TRAIN = {"iters": 4, "batch_size": 2, "lr": 0.003, "weight_decay": 0.0001, "checkpoint_interval": 2, "loss": "ce"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A running server and the environment that reaches it (this process's own stays untouched)."""
    before = os.environ.get(preload.ENV)
    proc = preload.start(tmp_path_factory.mktemp("server") / "server.log")
    assert proc is not None and proc.poll() is None
    env = dict(tools_env(), **{preload.ENV: os.environ[preload.ENV]})
    if before is None:
        os.environ.pop(preload.ENV)
    yield proc, env
    preload.stop(proc)
    assert proc.poll() is not None


def realitygap(args: list[str], env: dict, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).parent / "realitygap")
    return subprocess.run([exe, *args], env=env, cwd=cwd, capture_output=True, text=True, **kwargs)


def train_args(rendered, out: Path) -> list[str]:
    sources = [{"dataset": str(rendered["sim"][0]), "split": str(rendered["sim"][1]), "fraction": 1.0}]
    return ["train", "--sources", json.dumps(sources), "--model", json.dumps(MODEL), "--params", json.dumps(TRAIN),
            "--size", "48", "--mix", "sim", "--seed", "3", "--out", str(out)]


def test_a_training_run_by_the_server_equals_one_in_its_own_process(server, rendered, tmp_path):
    _, env = server
    forked = realitygap(train_args(rendered, tmp_path / "forked"), dict(env, REALITYGAP_RULE="train"), tmp_path)
    own = realitygap(train_args(rendered, tmp_path / "own"), dict(env, REALITYGAP_NO_PRELOAD="1"), tmp_path)
    assert forked.returncode == own.returncode == 0, forked.stderr[-2000:] + own.stderr[-2000:]
    a = torch.load(tmp_path / "forked" / "model.pth", weights_only=True)
    b = torch.load(tmp_path / "own" / "model.pth", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert "trained model on sim" in forked.stderr and "trained model on sim" in own.stderr   # the job log
    usage = list((tmp_path / "benchmarks" / "train" / ".preload").glob("*.json"))
    assert len(usage) == 1, "the forked job's CPU time and memory are recorded for its rule"
    record = json.loads(usage[0].read_text())
    assert record["status"] == 0 and record["cpu_s"] > 0.5 and record["max_rss_mb"] > 100
    row = rule_benchmarks(tmp_path / "benchmarks")["train"]
    assert row["cpu_s"] == pytest.approx(record["cpu_s"], abs=0.01) and row["max_rss_mb"] == record["max_rss_mb"]


def test_the_job_gets_its_folder_environment_streams_and_status(server, tmp_path):
    _, env = server
    (tmp_path / "job").mkdir()
    result = realitygap(["split", "--dataset", "nowhere", "--params", '{"fractions": {"train": 1.0}}',
                         "--out", "s.json"], dict(env, REALITYGAP_TEST_MARK="x"), tmp_path / "job")
    assert result.returncode == 2
    assert "nowhere/manifest.json: file not found" in result.stderr
    assert not (tmp_path / "job" / "s.json").exists()
    shown = realitygap(["render", "--help"], env, tmp_path)
    assert shown.returncode == 0 and "usage: realitygap render" in shown.stdout


def children(proc) -> list:
    return [c for c in psutil.Process(proc.pid).children() if c.status() != psutil.STATUS_ZOMBIE]


def test_killing_the_client_kills_its_job(server, rendered, tmp_path):
    proc, env = server
    args = train_args(rendered, tmp_path / "killed")
    args[args.index("--params") + 1] = json.dumps(dict(TRAIN, iters=100000, checkpoint_interval=100000))
    client = subprocess.Popen([str(Path(sys.executable).parent / "realitygap"), *args], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not children(proc) and time.time() < deadline:
        time.sleep(0.1)
    assert children(proc), "the server forked the job"
    client.send_signal(signal.SIGTERM)
    client.wait(10)
    deadline = time.time() + 10
    while children(proc) and time.time() < deadline:
        time.sleep(0.1)
    assert not children(proc)
    assert proc.poll() is None, "the server keeps serving"


def test_a_job_ends_when_its_child_does_though_later_forks_run_on(server, rendered, tmp_path):
    """A job forked while another one runs must not hold that one's connection open (its client would wait)."""
    proc, env = server
    exe = str(Path(sys.executable).parent / "realitygap")
    short = train_args(rendered, tmp_path / "short")
    short[short.index("--params") + 1] = json.dumps(dict(TRAIN, iters=40, checkpoint_interval=40))
    long = train_args(rendered, tmp_path / "long")
    long[long.index("--params") + 1] = json.dumps(dict(TRAIN, iters=100000, checkpoint_interval=100000))
    first = subprocess.Popen([exe, *short], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not children(proc) and time.time() < deadline:
        time.sleep(0.05)
    second = subprocess.Popen([exe, *long], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert first.wait(120) == 0
        assert second.poll() is None, "the short job returned while the long one still runs"
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)


def test_without_a_reachable_server_the_command_runs_itself(tmp_path, monkeypatch):
    monkeypatch.delenv(preload.ENV, raising=False)
    assert preload.delegate(["render", "--help"]) is None
    monkeypatch.setenv(preload.ENV, f"{socket.gethostname()}:{tmp_path / 'gone.sock'}")
    assert preload.delegate(["render", "--help"]) is None
    monkeypatch.setenv(preload.ENV, f"another-host:{tmp_path / 'gone.sock'}")
    assert preload.delegate(["render", "--help"]) is None
    monkeypatch.setenv(preload.OFF, "1")
    assert preload.start(tmp_path / "log") is None


def test_the_server_ends_with_the_run_that_started_it(tmp_path):
    """A Snakemake run killed without its onerror hook must not leave a server behind."""
    script = ("import os, sys; from realitygap import preload; s = preload.start(sys.argv[1]); "
              "print(s.pid, os.environ[preload.ENV], flush=True); os._exit(0)")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "log")], capture_output=True, text=True,
                         env=tools_env(), check=True).stdout.split()
    pid, path = int(out[0]), out[1].split(":", 1)[1]
    deadline = time.time() + 15
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE and time.time() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not Path(path).exists()
