"""A warm interpreter for the workflow's jobs (a fork server, as in Ruby's Spring or Android's zygote).

Every `realitygap` job used to spend 5-8 s importing torch, torchvision, mmseg and mmdet before doing a
second of work. Snakemake's `onstart` starts one server per local run (`start`); it imports those libraries
once and forks a child per job. The `realitygap` command finds the server through `ENV` and hands it its
arguments, working folder, environment and its stdin/stdout/stderr (SCM_RIGHTS), then waits: the child
runs the command exactly as a fresh process would (our own modules are imported fresh in every child, so
edited code takes effect) and the client exits with its status. Killing the client kills the child.
Without a server (SLURM jobs, a bare `realitygap` call, `REALITYGAP_NO_PRELOAD=1`) the command runs in
its own process as before. The child's CPU time and peak memory (wait4) are written next to Snakemake's
benchmark records (`usage_dir`), since Snakemake's own record only sees the client.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = "REALITYGAP_PRELOAD"            # "<host>:<socket path>" of the running server
OFF = "REALITYGAP_NO_PRELOAD"         # set to 1: never use a server
RULE = "REALITYGAP_RULE"              # the Snakemake rule of the job (its usage record's folder)
HEADER = struct.Struct("!I")
POLL_S = 0.2                          # the server's check of a child without a pidfd


def usage_dir(rule: str) -> Path:
    """Where a rule's jobs leave the usage records of their preloaded children."""
    return Path("benchmarks") / rule / ".preload"


# --------------------------------------------------------------------------------------------- client
def delegate(argv: list[str]) -> int | None:
    """Run `realitygap argv` in the server's fork and return its exit status; None when no server is
    reachable from here (the caller then runs the command itself)."""
    address = os.environ.get(ENV, "")
    host, _, path = address.partition(":")
    if not path or os.environ.get(OFF) == "1" or host != socket.gethostname():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    with sock:
        payload = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
        socket.send_fds(sock, [HEADER.pack(len(payload))], [0, 1, 2])
        sock.sendall(payload)
        reply = json.loads(_read_line(sock) or b'{"status": 1}')
    _record_usage(argv, reply)
    return int(reply["status"])


def _read_line(sock: socket.socket) -> bytes:
    """The server's one-line reply (not "until EOF": the socket may live on in other jobs' forks)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.strip()


def _usage_record(argv: list[str]) -> Path | None:
    rule = os.environ.get(RULE)
    return usage_dir(rule) / f"{hashlib.sha1(chr(0).join(argv).encode()).hexdigest()[:16]}.json" if rule else None


def forget_usage(argv: list[str]) -> None:
    """A job that runs in its own process has Snakemake's full record: drop an earlier run's usage record."""
    path = _usage_record(argv)
    if path is not None:
        path.unlink(missing_ok=True)


def _record_usage(argv: list[str], reply: dict) -> None:
    path = _usage_record(argv)
    if path is None or "cpu_s" not in reply:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"argv": argv, "status": reply["status"], "wall_s": reply["wall_s"], "cpu_s": reply["cpu_s"],
              "max_rss_mb": reply["max_rss_mb"]}
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------- the workflow's side
def start(log: str | os.PathLike, timeout: float = 300.0) -> subprocess.Popen | None:
    """Start a server for this process's jobs (Snakemake's onstart): wait until it listens, then point
    `ENV` at it so every job started from here finds it. None when preloading is turned off."""
    if os.environ.get(OFF) == "1":
        return None
    folder = tempfile.mkdtemp(prefix="realitygap-")          # 0700: only this user can connect
    path = os.path.join(folder, "jobs.sock")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", ENV)}
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        server = subprocess.Popen([sys.executable, "-m", "realitygap.jobserver", "--socket", path,
                                   "--parent", str(os.getpid())], stdout=out, stderr=out, env=env,
                                  cwd=folder, start_new_session=True)
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if server.poll() is not None or time.time() > deadline:
            stop(server)
            return None
        time.sleep(0.1)
    os.environ[ENV] = f"{socket.gethostname()}:{path}"
    return server


def stop(server: subprocess.Popen | None) -> None:
    """Stop the server `start` returned and remove its socket (Snakemake's onsuccess / onerror)."""
    if server is None:
        return
    os.environ.pop(ENV, None)
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    shutil.rmtree(os.path.dirname(server.args[server.args.index("--socket") + 1]), ignore_errors=True)
