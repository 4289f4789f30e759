"""What operators and analysts rely on while the collector runs: read-only analyst
queries during ingestion, metrics summed across workers, health, graceful drain."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from pathlib import Path

import duckdb
import pytest
import requests

from tests import patience
from tests.integration.server import Server

UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
EVENT = {"site": "shop", "url": "https://shop.example/live"}


def test_analyst_reads_read_only_while_server_ingests_and_loads(tmp_path: Path) -> None:
    server = Server(tmp_path).start()
    stop = threading.Event()
    sent = [0]

    def ingest() -> None:
        session = requests.Session()
        for _ in range(5000):
            if stop.is_set():
                return
            if (
                session.post(
                    server.url + "/api/event", json=[EVENT] * 5, headers=UA, timeout=patience.HTTP_S
                ).status_code
                == 202
            ):
                sent[0] += 5

    writer = threading.Thread(target=ingest)
    writer.start()
    counts = []
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            con = duckdb.connect(str(server.data_dir / "clearcount.duckdb"), read_only=True)
            try:
                counts.append(con.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]
                con.execute(
                    "SELECT path, count(DISTINCT visitor_key) FROM events GROUP BY 1"
                ).fetchall()
            finally:
                con.close()
            time.sleep(0.05)
    finally:
        stop.set()
        writer.join(patience.HTTP_S)
        server.stop()
    assert counts == sorted(counts), "rows went missing between two reads"
    assert counts[-1] > 0, "the loader never made rows visible during the run"
    # After the graceful stop every acknowledged event is in the lake.
    assert server.query("SELECT count(*) FROM events")[0][0] == sent[0]


def metric(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_across_workers_and_health(tmp_path: Path) -> None:
    server = Server(tmp_path, {"CLEARCOUNT_WORKERS": "3"}).start()
    try:
        for _ in range(30):  # new connections, so several workers answer
            assert (
                requests.post(
                    server.url + "/api/event", json=EVENT, headers=UA, timeout=patience.HTTP_S
                ).status_code
                == 202
            )
        requests.post(
            server.url + "/api/event", json={"site": "shop"}, headers=UA, timeout=patience.HTTP_S
        )
        requests.post(
            server.url + "/api/event",
            json={**EVENT, "consent": "denied"},
            headers=UA,
            timeout=patience.HTTP_S,
        )
        server.wait_loaded("events", 30)
        time.sleep(0.5)
        text = requests.get(server.url + "/metrics", timeout=patience.HTTP_S).text
        assert metric(text, "clearcount_events_accepted_total", 'site="shop"') == 31
        assert metric(text, "clearcount_events_dropped_total", 'reason="invalid"') == 1
        assert metric(text, "clearcount_events_dropped_total", 'reason="consent_denied"') == 1
        assert metric(text, "clearcount_records_spooled_total", 'table="events"') == 30
        assert metric(text, "clearcount_rows_loaded_total", 'table="events"') == 30
        assert requests.get(server.url + "/healthz", timeout=patience.HTTP_S).json() == {
            "status": "ok"
        }
        ready = requests.get(server.url + "/readyz", timeout=patience.HTTP_S)
        assert ready.status_code == 200
        assert ready.json()["checks"]["spool_writable"] is True
    finally:
        server.stop()


def test_pixel_and_redirect_answers(tmp_path: Path) -> None:
    server = Server(tmp_path).start()
    try:
        pixel = requests.get(
            server.url + "/api/pixel.gif",
            params={"site": "shop", "url": "https://shop.example/"},
            headers=UA,
            timeout=patience.HTTP_S,
        )
        assert pixel.status_code == 200
        assert pixel.headers["Content-Type"] == "image/gif"
        assert pixel.content.startswith(b"GIF89a")
        assert "no-store" in pixel.headers["Cache-Control"]
        broken = requests.get(
            server.url + "/api/pixel.gif",
            params={"site": "nosuch"},
            headers=UA,
            timeout=patience.HTTP_S,
        )
        assert broken.status_code == 200
        assert broken.content.startswith(b"GIF89a")
        ok = requests.get(
            server.url + "/r",
            params={"site": "shop", "to": "https://shop.example/x?a=1"},
            headers=UA,
            allow_redirects=False,
            timeout=patience.HTTP_S,
        )
        assert ok.status_code == 302
        assert ok.headers["Location"] == "https://shop.example/x?a=1"
        for to in ("https://evil.example/", "//evil.example", "https://shop.example@evil.example/"):
            bad = requests.get(
                server.url + "/r",
                params={"site": "shop", "to": to},
                headers=UA,
                allow_redirects=False,
                timeout=patience.HTTP_S,
            )
            assert bad.status_code == 400
            assert "Location" not in bad.headers
            assert bad.json()["error"] == "redirect_not_allowed"
    finally:
        server.stop()


def children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                kids.append(int(stat.parent.name))
    return kids


def gunicorn_workers(server: Server, expected: int) -> list[int]:
    """The worker processes: children of the gunicorn master that serve started."""
    assert server.proc is not None
    deadline = time.monotonic() + patience.seconds(60)
    while time.monotonic() < deadline:
        for child in children(server.proc.pid):
            with contextlib.suppress(OSError):
                if b"gunicorn" in Path(f"/proc/{child}/cmdline").read_bytes():
                    workers = children(child)
                    if len(workers) == expected:
                        return workers
        time.sleep(0.1)
    raise AssertionError(f"did not find {expected} gunicorn workers")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two CPUs")
@pytest.mark.parametrize("pin", ["1", "0"])
def test_workers_are_pinned_to_distinct_cpus(tmp_path: Path, pin: str) -> None:
    server = Server(tmp_path, {"CLEARCOUNT_WORKERS": "2", "CLEARCOUNT_PIN_WORKERS": pin}).start()
    try:
        cpus = os.sched_getaffinity(0)
        affinities = [os.sched_getaffinity(pid) for pid in gunicorn_workers(server, 2)]
        if pin == "1":
            assert all(len(a) == 1 and a <= cpus for a in affinities), affinities
            assert affinities[0] != affinities[1]
        else:
            assert affinities == [cpus, cpus]
        assert requests.post(
            server.url + "/api/event", json=EVENT, headers=UA, timeout=patience.HTTP_S
        ).ok
    finally:
        server.stop()
