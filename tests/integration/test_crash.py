"""Nothing acknowledged is ever lost: SIGKILL the whole server under load, then count."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import requests

from tests import patience
from tests.integration.server import Server

CLIENTS = 6
MAX_REQUESTS_PER_CLIENT = 3000
ACKED_BEFORE_KILL = 200  # the kill lands under load, not before it


def test_every_acknowledged_event_survives_sigkill_exactly_once(tmp_path: Path) -> None:
    server = Server(tmp_path, {"CLEARCOUNT_SEGMENT_MAX_BYTES": "20000"}).start()
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        session = requests.Session()
        headers = {
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
            "X-Forwarded-For": "81.2.69.142",
        }
        for i in range(MAX_REQUESTS_PER_CLIENT):
            if stop.is_set():
                return
            marker = f"c{n}-{i:05d}"
            batch = [{"site": "shop", "url": "https://shop.example/", "props": {"m": marker}}]
            if i % 3 == 0:  # some batches, so group commit sees mixed sizes
                batch += [
                    {"site": "shop", "url": "https://shop.example/b", "props": {"m": f"{marker}b"}}
                ]
            try:
                response = session.post(
                    server.url + "/api/event", json=batch, headers=headers, timeout=patience.HTTP_S
                )
            except requests.RequestException:
                return  # the server is gone
            if response.status_code == 202:
                with lock:
                    acked.extend(e["props"]["m"] for e in batch)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    # Kill once the load is under way, however long getting there takes on a busy machine.
    deadline = time.monotonic() + patience.LOADED_S
    while len(acked) <= ACKED_BEFORE_KILL and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # no drain, no goodbye: master, workers and loader at once
    stop.set()
    for t in threads:
        t.join(patience.HTTP_S)

    assert len(acked) > ACKED_BEFORE_KILL, "the load never got going"
    result = server.cli("load")
    assert result.returncode == 0, result.stderr
    stored = Counter(
        m for (m,) in server.query("SELECT json_extract_string(props, '$.m') FROM events")
    )
    missing = [m for m in acked if stored[m] == 0]
    duplicated = [m for m, n in stored.items() if n > 1]
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:5]}"
    assert not duplicated, f"{len(duplicated)} events stored twice, e.g. {duplicated[:5]}"
    # Loading again finds nothing new: the lake is not touched twice.
    again = server.cli("load")
    assert "nothing to load" in again.stdout
