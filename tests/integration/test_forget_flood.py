"""A flood of erasure requests from one client: limited per client network across the
collector's workers, never holding back another network, and visible on /readyz."""

from __future__ import annotations

from pathlib import Path

import requests

from tests import patience
from tests.integration.server import Server

LIMIT = 5


def forget(server: Server, n: int, network: str) -> int:
    # A new connection each time: the requests land on both workers.
    return requests.post(
        server.url + "/api/forget",
        json={"site": "shop", "visitor_id": f"flood-{n}"},
        headers={"X-Forwarded-For": network},
        timeout=patience.HTTP_S,
    ).status_code


def test_forgets_are_limited_per_client_network_and_their_backlog_is_reported(
    tmp_path: Path,
) -> None:
    server = Server(tmp_path, {"CLEARCOUNT_FORGET_RATE_LIMIT": str(LIMIT)}).start()
    codes = [forget(server, n, "203.0.113.7") for n in range(LIMIT + 7)]
    assert codes == [202] * LIMIT + [429] * 7
    assert forget(server, 99, "198.51.100.40") == 202  # another network is not held back
    ready = requests.get(server.url + "/readyz", timeout=patience.HTTP_S).json()
    assert ready["status"] == "ready"  # erasures wait; ingest does not
    assert 1 <= ready["erasures_pending"] <= LIMIT + 1
    assert ready["oldest_erasure_age_s"] >= 0
