"""One readiness helper for the demo, the tests and the benchmarks: slow answers are "not yet",
and a start that fails leaves no process behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from service.readiness import NotReady, start_server, stop_group, wait_ready
from tests import leftovers, patience
from tests.integration.server import free_port

# Answers /healthz 200, but the first SLOW requests only after a pause: a server whose
# workers are still booting accepts the connection and answers late.
SLOW_SERVER = """
import sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
slow = int(sys.argv[2])
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        global slow
        if slow > 0:
            slow -= 1
            time.sleep(1.0)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

# A "server" that never listens, and has a child in its process group.
NEVER_READY = "import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\ntime.sleep(600)"


def marked_env(run_id: str) -> dict[str, str]:
    """This environment, its processes findable by ``leftovers.find(run_id)``."""
    return {**os.environ, leftovers.MARK: run_id}


def gone(run_id: str) -> bool:
    """True once no process marked ``run_id`` is alive (reaping may take a moment)."""
    deadline = time.monotonic() + patience.seconds(10)
    while leftovers.find(run_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not leftovers.find(run_id)


def test_slow_answers_are_not_yet_rather_than_a_failure() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SERVER, str(port), "2"], start_new_session=True
    )
    try:
        # Each probe gives up after 0.3 s, well before the 1 s answer: a read timeout twice.
        wait_ready(
            f"http://127.0.0.1:{port}/healthz",
            deadline_s=patience.seconds(30),
            proc=proc,
            probe_timeout_s=0.3,
        )
    finally:
        stop_group(proc, grace_s=patience.STOP_S)


def test_a_start_that_never_gets_ready_kills_its_whole_group() -> None:
    run_id = uuid.uuid4().hex
    with pytest.raises(NotReady, match="did not answer"):
        start_server(
            [sys.executable, "-c", NEVER_READY],
            ready_url=f"http://127.0.0.1:{free_port()}/healthz",
            deadline_s=1.5,
            env=marked_env(run_id),
        )
    assert gone(run_id)


def test_a_server_that_exits_is_reported_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(NotReady, match="exited with code 3"):
        start_server(
            [sys.executable, "-c", "raise SystemExit(3)"],
            ready_url=f"http://127.0.0.1:{free_port()}/healthz",
            deadline_s=patience.seconds(60),
        )
    assert time.monotonic() - started < patience.seconds(20)


def test_stop_group_kills_children_that_outlive_the_leader() -> None:
    run_id = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-c", NEVER_READY], env=marked_env(run_id), start_new_session=True
    )
    deadline = time.monotonic() + patience.seconds(10)
    while len(leftovers.find(run_id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the leader has started its child
    assert len(leftovers.find(run_id)) == 2
    assert stop_group(proc, grace_s=patience.STOP_S) is not None  # SIGTERM ends the leader
    assert gone(run_id)
