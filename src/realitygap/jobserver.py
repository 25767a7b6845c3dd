"""The job server `realitygap.preload` starts: imports the heavy libraries once, then forks one child per
`realitygap` job a client hands it (arguments, folder, environment, stdin/stdout/stderr) and reports the
child's status, CPU time and peak memory back. An entry point beside `realitygap.cli`, whose `main` the
children run."""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import json
import os
import random
import select
import shutil
import signal
import socket
import struct
import sys
import threading
import time

from realitygap.preload import HEADER, POLL_S

MODULES = ("numpy", "scipy.ndimage", "cv2", "PIL.Image", "torch", "torchvision", "mmengine.runner",
           "mmseg.models", "mmdet.models", "albumentations", "pycocotools.mask", "matplotlib")
RUNNING: set[int] = set()             # the server's children still running
OPEN_FDS: set[int] = set()            # the server's sockets and pidfds of running jobs: no child keeps them
GRACE_S = 10.0                        # a job whose client is gone gets SIGINT, then SIGKILL after this


def serve(path: str, parent: int, modules: tuple[str, ...] = MODULES) -> None:
    """Import `modules`, listen on the Unix socket `path` and fork one child per request until the process
    `parent` (the Snakemake run) is gone or SIGTERM arrives."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    gc.freeze()                     # the children inherit these objects: keep the collector off their pages
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(1.0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while os.getppid() == parent:
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            conn.settimeout(None)
            _serve_one(listener, conn)
    finally:
        for pid in list(RUNNING):
            _signal_group(pid)
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def _serve_one(listener: socket.socket, conn: socket.socket) -> None:
    """Read one request, fork its child and leave a thread to report the child's end."""
    try:
        header, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
        (length,) = HEADER.unpack(header)
        payload = b""
        while len(payload) < length:
            payload += conn.recv(length - len(payload)) or _closed()
        request = json.loads(payload)
    except (OSError, ValueError, struct.error):
        conn.close()
        return
    started = time.time()
    pid = os.fork()
    if pid == 0:
        listener.close()
        for fd in (OPEN_FDS | {conn.fileno()}) - set(fds):
            os.close(fd)
        _run_child(request, fds)
    try:
        os.setpgid(pid, pid)                     # also here: killpg must find the group at once
    except OSError:
        pass
    RUNNING.add(pid)
    OPEN_FDS.add(conn.fileno())
    for fd in fds:
        os.close(fd)
    threading.Thread(target=_supervise, args=(conn, pid, started), daemon=True).start()


def _closed() -> bytes:
    raise OSError("client closed the connection")


def _run_child(request: dict, fds: list[int]) -> None:
    """In the fork: become the job (its stdio, folder, environment, fresh random state) and run it."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["realitygap", *request["argv"]]
    random.seed()
    _fresh_numerical_state()
    status = 1
    try:
        from realitygap.cli import main
        status = main(request["argv"])
    except SystemExit as done:
        status = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:                       # a fresh interpreter would print it and exit 1
        import traceback
        traceback.print_exc()
    finally:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _fresh_numerical_state() -> None:
    """What a fresh interpreter would have: numpy's global generator from the OS, torch's threads from
    OMP_NUM_THREADS (the server imported torch before the job's environment existed)."""
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if "torch" in sys.modules and threads.isdigit() and int(threads) > 0:
        sys.modules["torch"].set_num_threads(int(threads))


def _supervise(conn: socket.socket, pid: int, started: float) -> None:
    """Wait for the child; kill its process group if the client goes away; send the client the status,
    wall and CPU seconds and peak memory of the child."""
    ended = _pidfd(pid)                             # readable when the child ends: no polling delay
    if ended is not None:
        OPEN_FDS.add(ended)
    try:
        _wait_and_reply(conn, pid, started, ended)
    finally:                                        # out of the set before closed: a fork never sees a reused number
        OPEN_FDS.difference_update({conn.fileno(), ended})
        conn.close()
        if ended is not None:
            os.close(ended)


def _wait_and_reply(conn: socket.socket, pid: int, started: float, ended: int | None) -> None:
    """Wait for the child (signalling it when its client is gone) and send the client its end."""
    gone_at = None
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        watch = ([ended] if ended is not None else []) + ([] if gone_at else [conn])
        readable, _, _ = select.select(watch, [], [], POLL_S)
        if conn in readable and not conn.recv(1, socket.MSG_PEEK):
            gone_at = time.time()               # as Ctrl-C would: KeyboardInterrupt, cleanups run
            _signal_group(pid, signal.SIGINT)
        elif gone_at and time.time() - gone_at > GRACE_S:
            _signal_group(pid, signal.SIGKILL)
    RUNNING.discard(pid)
    code = os.waitstatus_to_exitcode(status)
    reply = {"status": code if code >= 0 else 128 - code, "wall_s": round(time.time() - started, 3),
             "cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "max_rss_mb": round(usage.ru_maxrss / 1024, 1)}
    try:
        conn.sendall(json.dumps(reply).encode() + b"\n")
    except OSError:
        pass


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):              # not Linux >= 5.3: poll every POLL_S
        return None


def _signal_group(pid: int, signum: int = signal.SIGTERM) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


def _main() -> None:
    parser = argparse.ArgumentParser(description="realitygap's job server (started by the workflow)")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--parent", type=int, required=True, help="exit when this process is gone")
    args = parser.parse_args()
    if sys.path and sys.path[0] in ("", os.getcwd()):       # never import from the server's folder
        sys.path.pop(0)
    serve(args.socket, args.parent)


if __name__ == "__main__":
    _main()
