"""Stopping `clearcount serve` as a terminal or an init system does: the signal reaches the
whole process group at once (supervisor, gunicorn's master and workers, the loader), and
still every acknowledged event is in the lake when it exits, with no segment left behind.
The log it wrote on the way is JSON, line by line, after its start banner."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import orjson
import pytest
import requests

from service.ingest.spool import iter_segments
from tests import patience
from tests.integration.server import Server

EVENTS = 40
CLIENT_IP = "81.2.69.142"
HEADERS = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "X-Forwarded-For": CLIENT_IP,
}
# Nothing is loaded while the test runs (segments stay open a minute, the loader wakes every
# half minute): what reaches the lake reaches it through the stop's own hand-over and drain.
SLOW_LOADER = {"CLEARCOUNT_SEGMENT_MAX_AGE_S": "60", "CLEARCOUNT_LOAD_INTERVAL_S": "30"}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_to_the_whole_group_drains_every_acknowledged_event(
    signum: signal.Signals, tmp_path: Path
) -> None:
    server = Server(tmp_path, SLOW_LOADER).start()
    session = requests.Session()
    acked = 0
    for i in range(EVENTS):
        event = {"site": "shop", "url": f"https://shop.example/p{i}"}
        answer = session.post(
            server.url + "/api/event", json=event, headers=HEADERS, timeout=patience.HTTP_S
        )
        acked += answer.status_code == 202
    assert acked == EVENTS
    assert list(iter_segments(server.data_dir / "spool")), "the events wait in the spool"

    assert server.proc is not None
    os.killpg(server.proc.pid, signum)  # as Ctrl-C in a terminal, or `kill -TERM -<pgid>`
    assert server.proc.wait(patience.STOP_S) == 0

    assert list(iter_segments(server.data_dir / "spool")) == []
    assert server.query("SELECT count(*) FROM events")[0][0] == EVENTS
    assert_json_log_after_the_banner(server.log_path.read_bytes())


def assert_json_log_after_the_banner(log: bytes) -> None:
    """Every line is a JSON object but the start banner's (its first line and the indented
    ones after it), and none names the client's address."""
    lines = log.decode().splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("clearcount is collecting"))
    end = start + 1
    while end < len(lines) and lines[end].startswith("  "):
        end += 1
    assert end - start >= 2, "the banner says where to look"
    others = lines[:start] + lines[end:]
    entries = [orjson.loads(line) for line in others]
    assert all(isinstance(entry, dict) for entry in entries)
    loggers = {entry.get("logger") for entry in entries}
    assert {"gunicorn.error", "clearcount.serve", "clearcount.loader"} <= loggers
    assert any(entry.get("event") == "http_request" for entry in entries)  # the access log
    assert CLIENT_IP.encode() not in log
