"""A data directory that fills up: ingest and /readyz answer 503, nothing acknowledged is
lost, and the collector recovers in place once space is freed. On a real, small tmpfs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import requests

from tests import patience
from tests.integration.server import Server

pytestmark = pytest.mark.slow

UA = {"User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15"}
SIZE = "48m"
FLOOR = str(2 * 1024 * 1024)


@contextlib.contextmanager
def tmpfs(path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI and `make test` run as root here)")
    path.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> Path:
    """Write a filler file until the filesystem refuses another byte."""
    filler = directory / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1024 * 1024, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def ready(server: Server) -> requests.Response:
    return requests.get(server.url + "/readyz", timeout=patience.HTTP_S)


def wait_for(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_a_full_disk_refuses_with_503_loses_nothing_and_recovers(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt") as mnt:
        server = Server(
            tmp_path,
            {"CLEARCOUNT_DATA_DIR": str(mnt / "data"), "CLEARCOUNT_MIN_FREE_BYTES": FLOOR},
        )
        server.start()
        acknowledged = [0]
        refused = [0]
        stop = threading.Event()

        def send() -> None:
            session = requests.Session()
            for i in range(20_000):
                if stop.is_set():
                    return
                batch = [{"site": "shop", "url": f"https://shop.example/full/{i}"}] * 10
                response = session.post(
                    server.url + "/api/event", json=batch, headers=UA, timeout=patience.HTTP_S
                )
                if response.status_code == 202:
                    acknowledged[0] += 10
                elif response.status_code == 503:
                    assert response.json()["error"] == "spool_unavailable"
                    assert response.headers["Retry-After"]
                    refused[0] += 1
                else:
                    raise AssertionError(response.status_code)

        sender = threading.Thread(target=send)
        try:
            assert ready(server).status_code == 200
            sender.start()
            time.sleep(1.0)
            filler = fill(mnt)
            # Full: ingest refuses, and readiness says so.
            assert wait_for(lambda: refused[0] >= 5, patience.seconds(30))
            answer = ready(server)
            assert answer.status_code == 503
            assert answer.json()["checks"]["disk_space_ok"] is False
            # Space comes back: readiness and ingest recover in place, no restart.
            filler.unlink()
            assert wait_for(lambda: ready(server).status_code == 200, patience.seconds(30))
            before = acknowledged[0]
            assert wait_for(lambda: acknowledged[0] > before + 50, patience.seconds(30))
        finally:
            stop.set()
            if sender.is_alive():
                sender.join(patience.HTTP_S)
            server.stop()  # drains the spool into the lake
        con = duckdb.connect(str(mnt / "data" / "clearcount.duckdb"), read_only=True)
        try:
            row = con.execute("SELECT count(*) FROM events WHERE path LIKE '/full/%'").fetchone()
        finally:
            con.close()
        loaded = row[0] if row else -1
        assert acknowledged[0] > 0
        assert loaded == acknowledged[0]  # every 202 is in the lake, no more, no less
