"""Slow and idle clients cannot take the collector down: it reads requests without holding a
thread, and drops a client that has not sent its headers in time."""

from __future__ import annotations

import contextlib
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import patience
from tests.integration.server import Server

pytestmark = pytest.mark.slow

UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
EVENT = {"site": "shop", "url": "https://shop.example/slow"}
SLOWLORIS = 200  # six times the threads of both workers together
IDLE = 200
HOLD_S = 12.0  # longer than the header timeout, so drops are seen


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=patience.seconds(10))


@contextlib.contextmanager
def hostile(port: int, *, slowloris: int, idle: int) -> Iterator[list[socket.socket]]:
    """Idle connections, and slowloris ones sending a header line every 2 s; stopped on exit."""
    idlers = [connect(port) for _ in range(idle)]
    lorises = [connect(port) for _ in range(slowloris)]
    for s in lorises:
        s.sendall(b"POST /api/event HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    stop = threading.Event()

    def trickle() -> None:
        line = 0
        while not stop.wait(2.0):
            line += 1
            for s in lorises:
                with contextlib.suppress(OSError):
                    s.sendall(b"X-Slow-%d: 1\r\n" % line)

    thread = threading.Thread(target=trickle)
    thread.start()
    try:
        yield lorises
    finally:
        stop.set()
        thread.join()
        for s in idlers + lorises:
            s.close()


def probe(server: Server, n: int) -> list[float]:
    """Seconds for each of ``n`` normal requests, each on a new connection."""
    took = []
    for _ in range(n):
        started = time.monotonic()
        response = requests.post(
            server.url + "/api/event", json=EVENT, headers=UA, timeout=patience.HTTP_S
        )
        assert response.status_code == 202
        took.append(time.monotonic() - started)
        time.sleep(0.2)
    return took


def closed_by_server(s: socket.socket) -> bool:
    s.settimeout(0.5)
    try:
        return s.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True  # reset


def test_slowloris_and_idle_connections_do_not_starve_normal_requests(tmp_path: Path) -> None:
    # Timed as deployed: the workers read the User-Agent rules as they start, not on a probe.
    server = Server(tmp_path, {"CLEARCOUNT_WARM_UP": "1"}).start()
    try:
        with hostile(server.port, slowloris=SLOWLORIS, idle=IDLE) as lorises:
            took = probe(server, 10)
            # Each answered well within a second; on a busy machine, within its patience.
            assert max(took) < patience.seconds(1.0), took
            time.sleep(max(0.0, HOLD_S - sum(took) - 2.0))
            dropped = sum(closed_by_server(s) for s in lorises)
        assert dropped == SLOWLORIS  # none finished its headers within header_timeout_s
        print(
            f"probes: median {statistics.median(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms"
        )
    finally:
        server.stop()
