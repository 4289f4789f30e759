"""Processes this test run started and left behind.

The suite marks its own environment with a run id before any test starts;
every process it starts (servers, loaders, gunicorn workers, Chromium, notebook
kernels, helper scripts) inherits it, whatever the process group. A process
alive at the end that carries the mark was left behind by a test. Each xdist
worker carries the run id followed by its own name (``worker_mark``), so the
run finds what any worker left.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

MARK = "PYTEST_CLEARCOUNT_RUN_ID"  # not CLEARCOUNT_*: servers get those cleared


@dataclass(frozen=True)
class Leftover:
    pid: int
    command: str


def _environ(pid_dir: Path) -> bytes:
    with contextlib.suppress(OSError):
        return (pid_dir / "environ").read_bytes()
    return b""


def _command(pid_dir: Path) -> str:
    with contextlib.suppress(OSError):
        return (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return "?"


def _is_zombie(pid_dir: Path) -> bool:
    with contextlib.suppress(OSError):
        stat = (pid_dir / "stat").read_text()
        return stat[stat.rindex(")") + 2] == "Z"
    return True  # gone while we looked


def worker_mark(run_id: str, worker: str) -> str:
    """The mark of what one xdist worker (``gw0``, ``gw1``, ...) of the run starts."""
    return f"{run_id}.{worker}"


def _marked(environ: bytes, run_id: str) -> bool:
    mark, worker = f"{MARK}={run_id}".encode(), f"{MARK}={worker_mark(run_id, '')}".encode()
    return any(v == mark or v.startswith(worker) for v in environ.split(b"\0"))


def find(run_id: str, proc: Path = Path("/proc")) -> list[Leftover]:
    """Live processes, other than this one, whose environment carries ``MARK=run_id``
    or the mark of one of the run's xdist workers."""
    found = []
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit() or int(pid_dir.name) == os.getpid():
            continue
        if _marked(_environ(pid_dir), run_id) and not _is_zombie(pid_dir):
            found.append(Leftover(int(pid_dir.name), _command(pid_dir)[:200]))
    return found


def kill(leftovers: list[Leftover]) -> None:
    for leftover in leftovers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(leftover.pid, signal.SIGKILL)
