"""Shared pieces of the benchmarks: servers on loopback, wrk runs, BENCHMARKS.md sections."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from service.readiness import start_server, stop_group

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
READY_S = 120.0  # a server to answer after start, on a machine that may be busy
STOP_S = 60.0  # SIGTERM to exit before the group is killed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def process(
    cmd: list[str], env: dict[str, str], log: Path, ready_url: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A server in its own process group, ready when entered, all of it stopped on exit."""
    with log.open("ab") as out:
        proc = start_server(
            cmd, ready_url=ready_url, deadline_s=READY_S, env=env, cwd=ROOT, output=out
        )
    try:
        yield proc
    finally:
        stop_group(proc, grace_s=STOP_S)


def wrk(
    url: str, body_file: Path, *, seconds: int, connections: int, threads: int = 1
) -> dict[str, float]:
    """One bounded wrk run; returns requests/s and latency percentiles."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make bench`, which installs it")
    env = dict(os.environ, BODY_FILE=str(body_file))
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(ROOT / "benchmarks" / "post.lua"),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    match = re.search(r"WRK_JSON (\{.*\})", out)
    if not match:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    stats = json.loads(match.group(1))
    stats["rps"] = stats["requests"] / stats["seconds"]
    return stats


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(name: str, body: str) -> None:
    """Replace this benchmark's section of BENCHMARKS.md, leaving the others."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS_MD.write_text(text)


def python() -> str:
    return sys.executable
