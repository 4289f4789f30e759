"""Processes this test run started and left behind.

The suite marks its own environment with a run id before any test starts;
every process it starts (servers, loaders, gunicorn workers, Chromium, notebook
kernels, helper scripts) inherits it, whatever the process group. A process
alive at the end that carries the mark was left behind by a test.
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


def find(run_id: str, proc: Path = Path("/proc")) -> list[Leftover]:
    """Live processes, other than this one, whose environment carries ``MARK=run_id``."""
    needle = f"{MARK}={run_id}".encode()
    found = []
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit() or int(pid_dir.name) == os.getpid():
            continue
        if needle in _environ(pid_dir).split(b"\0") and not _is_zombie(pid_dir):
            found.append(Leftover(int(pid_dir.name), _command(pid_dir)[:200]))
    return found


def kill(leftovers: list[Leftover]) -> None:
    for leftover in leftovers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(leftover.pid, signal.SIGKILL)
