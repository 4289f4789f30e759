"""Bad input through the real server: always a 4xx with a JSON reason, never a 5xx,
and never at the cost of the valid events in the same batch."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from tests import patience
from tests.integration.server import Server

UA = {"User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15"}
OK = {"site": "shop", "url": "https://shop.example/ok"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("bad")).start()
    yield s
    s.stop()


def raw(
    server: Server, body: bytes, content_type: str = "application/json", **headers: str
) -> requests.Response:
    return requests.post(
        server.url + "/api/event",
        data=body,
        headers={"Content-Type": content_type, **UA, **headers},
        timeout=patience.HTTP_S,
    )


def j(value: Any) -> bytes:
    return orjson.dumps(value)


CASES = [
    ("malformed JSON", b'{"site": "shop",', "application/json", {}, 400),
    ("invalid UTF-8", b'{"site": "sh\xff\xfeop"}', "text/plain", {}, 400),
    ("not an object", b'"hello"', "application/json", {}, 400),
    ("empty body", b"", "application/json", {}, 400),
    ("empty batch", b"[]", "application/json", {}, 400),
    ("form body", b"site=shop", "application/x-www-form-urlencoded", {}, 415),
    ("batch over 100", j([OK] * 101), "application/json", {}, 400),
    ("oversize body", j({**OK, "props": {"x": "y" * 70_000}}), "application/json", {}, 413),
    ("wrong types", j({"site": 5, "url": ["x"]}), "application/json", {}, 400),
    ("out of range", j({**OK, "depth": 101, "engaged_ms": -1}), "application/json", {}, 400),
    ("unknown field", j({**OK, "email": "x@y.example"}), "application/json", {}, 400),
    (
        "javascript: URL",
        j({**OK, "url": "javascript:alert(document.cookie)"}),
        "application/json",
        {},
        400,
    ),
    ("missing url", j({"site": "shop"}), "application/json", {}, 400),
    ("unknown site", j({**OK, "site": "nosuchsite"}), "application/json", {}, 403),
    ("foreign Origin", j(OK), "application/json", {"Origin": "https://evil.example"}, 403),
    ("null Origin", j(OK), "application/json", {"Origin": "null"}, 403),
    ("nested props", j({**OK, "props": {"a": {"b": 1}}}), "application/json", {}, 400),
    ("non-object items", j([1, "two", None]), "application/json", {}, 400),
]


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_input_gets_a_json_4xx(
    server: Server, body: bytes, content_type: str, headers: dict[str, str], status: int
) -> None:
    response = raw(server, body, content_type, **headers)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload.get("error"), payload
    # The reason never echoes a submitted value back.
    assert "x@y.example" not in response.text
    assert "document.cookie" not in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/event"),
        ("PUT", "/api/event"),
        ("GET", "/nope"),
        ("GET", "/api/pixel.gif?site=nosuch"),
    ],
)
def test_other_requests_never_5xx(server: Server, method: str, path: str) -> None:
    response = requests.request(method, server.url + path, headers=UA, timeout=patience.HTTP_S)
    assert response.status_code < 500
    if response.headers.get("Content-Type", "").startswith("application/json"):
        assert response.json().get("error")


def test_mixed_batch_keeps_the_valid_events(server: Server) -> None:
    batch = [
        {**OK, "url": "https://shop.example/valid-1"},
        {**OK, "url": "javascript:alert(1)"},
        {**OK, "site": "nosuchsite"},
        {**OK, "depth": 500},
        {**OK, "surprise": True},
        "not an object",
        {**OK, "url": "https://shop.example/valid-2", "type": "scroll", "depth": 75},
    ]
    response = raw(server, j(batch))
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 2, 3, 4, 5]
    assert "url" in body["rejected"][0]["errors"]
    assert "site" in body["rejected"][1]["errors"]
    assert "depth" in body["rejected"][2]["errors"]
    assert body["rejected"][3]["errors"] == {"_unknown": ["unknown field at position 2"]}
    assert server.wait_loaded("events WHERE path LIKE '/valid-%'", 2) == 2


def test_beacon_text_plain_body_is_accepted(server: Server) -> None:
    response = raw(
        server, j({**OK, "url": "https://shop.example/beacon"}), "text/plain;charset=UTF-8"
    )
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "rejected": []}


def test_rate_limited_client_gets_429_with_json(tmp_path: Path) -> None:
    limited = Server(tmp_path, {"CLEARCOUNT_RATE_LIMIT": "5", "CLEARCOUNT_WORKERS": "1"}).start()
    try:
        statuses = []
        for _ in range(12):
            response = requests.post(
                limited.url + "/api/event", json=OK, headers=UA, timeout=patience.HTTP_S
            )
            statuses.append(response.status_code)
        assert statuses[:5] == [202] * 5
        assert set(statuses[5:]) == {429}
        assert response.json()["error"] == "rate_limited"
        assert int(response.headers["Retry-After"]) > 0
        # Another client (another IP behind the trusted proxy) has its own budget.
        other = requests.post(
            limited.url + "/api/event",
            json=OK,
            headers={**UA, "X-Forwarded-For": "203.0.113.5"},
            timeout=patience.HTTP_S,
        )
        assert other.status_code == 202
        # The pixel always answers its GIF; a limited hit is simply not recorded.
        pixel = requests.get(
            limited.url + "/api/pixel.gif",
            params={"site": "shop", "url": "https://shop.example/limited-pixel"},
            headers=UA,
            timeout=patience.HTTP_S,
        )
        assert pixel.status_code == 200
        assert pixel.headers["Content-Type"] == "image/gif"
        assert pixel.content.startswith(b"GIF89a")
    finally:
        limited.stop()
    assert limited.query("SELECT count(*) FROM events WHERE path = '/limited-pixel'") == [(0,)]


@pytest.mark.parametrize(
    ("addresses", "prefix"),
    [
        ([f"2001:db8:aa:bb::{i:x}" for i in range(1, 9)], "64"),  # privacy addresses of one /64
        ([f"2001:db8:aa:{i:x}::1" for i in range(1, 9)], "48"),  # many /64s of one /48
    ],
    ids=["one /64", "one /48 at prefix 48"],
)
def test_ipv6_clients_are_limited_by_network(
    tmp_path: Path, addresses: list[str], prefix: str
) -> None:
    limited = Server(
        tmp_path,
        {
            "CLEARCOUNT_RATE_LIMIT": "5",
            "CLEARCOUNT_WORKERS": "1",
            "CLEARCOUNT_RATE_LIMIT_IPV6_PREFIX": prefix,
        },
    ).start()
    try:
        statuses = [
            requests.post(
                limited.url + "/api/event",
                json=OK,
                headers={**UA, "X-Forwarded-For": address},
                timeout=patience.HTTP_S,
            ).status_code
            for address in addresses
        ]
    finally:
        limited.stop()
    assert statuses == [202] * 5 + [429] * 3


def test_spool_backlog_over_limit_answers_503_with_retry_after(tmp_path: Path) -> None:
    # A loader that never runs and a one-byte budget: the first event fills the spool.
    full = Server(
        tmp_path,
        {
            "CLEARCOUNT_SPOOL_MAX_BYTES": "1",
            "CLEARCOUNT_LOAD_INTERVAL_S": "3600",
            "CLEARCOUNT_SEGMENT_MAX_AGE_S": "3600",
            "CLEARCOUNT_WORKERS": "1",
        },
    ).start()
    try:
        assert (
            requests.post(
                full.url + "/api/event", json=OK, headers=UA, timeout=patience.HTTP_S
            ).status_code
            == 202
        )

        deadline = time.monotonic() + patience.seconds(30)
        while time.monotonic() < deadline:
            response = requests.post(
                full.url + "/api/event", json=OK, headers=UA, timeout=patience.HTTP_S
            )
            if response.status_code == 503:
                break
            time.sleep(0.2)
        assert response.status_code == 503
        assert response.json()["error"] == "spool_unavailable"
        assert response.headers["Retry-After"] == "5"
        assert requests.get(full.url + "/readyz", timeout=patience.HTTP_S).status_code == 503
    finally:
        full.stop()
