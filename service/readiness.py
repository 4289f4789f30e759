"""Start a server in its own process group, wait until it answers, stop all of it.

One helper for every place that starts a collector and then talks to it:
``clearcount demo``, the integration tests and the benchmarks. A fresh
server can take seconds to answer while its workers import and boot, far
longer on a busy machine, so every request error and every slow answer means
"not yet" until the deadline; only the deadline, or the process exiting,
means "failed". A start that fails stops the whole process group it made
(supervisor, gunicorn master, workers, loader), so nothing is left running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import requests

PROBE_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.1


def address_in_use(bind: str) -> bool:
    """True when something already listens on ``host:port``: a new server could not bind it,
    and a readiness check would be answered by the old one."""
    host, _, port = bind.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=1):
            return True
    except (OSError, ValueError):
        return False


class NotReady(RuntimeError):
    """The server exited, or did not answer in time; it has been stopped."""


def wait_ready(
    url: str,
    *,
    deadline_s: float,
    proc: subprocess.Popen[bytes] | None = None,
    probe_timeout_s: float = PROBE_TIMEOUT_S,
) -> None:
    """Return once ``url`` answers 200; raise NotReady at the deadline or if ``proc`` exits."""
    deadline = time.monotonic() + deadline_s
    while True:
        if proc is not None and proc.poll() is not None:
            raise NotReady(f"the server exited with code {proc.returncode} before it was ready")
        left = deadline - time.monotonic()
        if left <= 0:
            raise NotReady(f"{url} did not answer 200 within {deadline_s:g} s")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=min(probe_timeout_s, left)).status_code == 200:
                return
        time.sleep(min(POLL_INTERVAL_S, max(0.0, deadline - time.monotonic())))


def stop_group(proc: subprocess.Popen[bytes], *, grace_s: float) -> int | None:
    """SIGTERM ``proc``, as an operator would; SIGKILL its whole group after grace_s.

    Only the leader is asked to stop: ``clearcount serve`` stops gunicorn
    before the loader, so that the loader's last drain sees every segment the
    workers handed over. The group is killed afterwards either way: a child
    that outlived its parent still belongs to it. Returns the leader's exit
    code, or None when it had to be killed.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    code: int | None = None
    with contextlib.suppress(subprocess.TimeoutExpired):
        code = proc.wait(grace_s)
    kill_group(proc)
    return code


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL every process of the group ``proc`` leads, and reap ``proc``."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def start_server(
    cmd: Sequence[str],
    *,
    ready_url: str,
    deadline_s: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    output: IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """``cmd`` in a new process group, returned once ``ready_url`` answers 200.

    On any failure to become ready the group is killed before NotReady is raised.
    """
    proc = subprocess.Popen(  # noqa: S603 (our own commands)
        list(cmd),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )
    try:
        wait_ready(ready_url, deadline_s=deadline_s, proc=proc)
    except BaseException:
        kill_group(proc)
        raise
    return proc
