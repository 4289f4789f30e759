"""Hand-made hostile HTTP against the real collector: malformed requests, broken chunked
bodies, oversize and compressed bodies, unrepresentable values. Always a JSON 4xx (never a
5xx, never an echo of what was sent), and nothing of it in the log."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import orjson
import pytest
import requests

from tests import patience
from tests.integration.server import Server

pytestmark = pytest.mark.slow

UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15"
EMAIL = "jane.doe@hostile.example"
OK = {"site": "shop", "url": "https://shop.example/ok"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("hostile")).start()
    yield s
    s.stop()


def exchange(server: Server, data: bytes) -> tuple[int, dict[str, str], bytes, float]:
    """Send raw bytes, read the answer until the server closes; (status, headers, body, s)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=patience.HTTP_S) as s:
        s.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received or not _complete(received):
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
    took = time.monotonic() - started
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body, took


def _complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def post(path: str, body: bytes, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"User-Agent: {UA}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(body: bytes) -> bytes:
    return post("/api/event", body, "Content-Type: application/json", "Transfer-Encoding: chunked")


MALFORMED = [
    ("bad request line", f"GET /r?site=shop&e={EMAIL} HTTP/9.9\r\nHost: x\r\n\r\n".encode(), 400),
    ("garbage", f"{EMAIL}\r\n\r\n".encode(), 400),
    ("bad header", f"GET / HTTP/1.1\r\nHost: x\r\nBad Header {EMAIL}\r\n\r\n".encode(), 400),
    ("request line too long", f"GET /{'a' * 9000}?e={EMAIL} HTTP/1.1\r\n\r\n".encode(), 414),
    (
        "headers too large",
        b"GET / HTTP/1.1\r\n"
        + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(200))
        + b"\r\n",
        431,
    ),
    ("chunk size not hex", chunked(b"zz\r\n{}\r\n0\r\n\r\n"), 400),
    ("negative chunk size", chunked(b"-1\r\n{}\r\n0\r\n\r\n"), 400),
    ("chunk without its CRLF", chunked(b"2\r\n{}XX0\r\n\r\n"), 400),
    ("impossible chunk size", chunked(b"ffffffffffffffff\r\n{}"), 413),
    (
        "chunked body over 64 KiB",
        chunked(b"%x\r\n" % 70_000 + b"x" * 70_000 + b"\r\n0\r\n\r\n"),
        413,
    ),
    (
        "Content-Length over 64 KiB",
        post("/api/event", b"{}", "Content-Type: application/json", "Content-Length: 999999"),
        413,
    ),
    (
        "gzip body",
        post(
            "/api/event",
            b"\x1f\x8b\x08\x00" + b"\x00" * 16,
            "Content-Type: application/json",
            "Content-Encoding: gzip",
            "Content-Length: 20",
        ),
        415,
    ),
    (
        "gzip transfer coding",
        post("/api/event", b"", "Content-Type: application/json", "Transfer-Encoding: gzip"),
        400,
    ),
]


@pytest.mark.parametrize(
    ("data", "status"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_http_gets_a_json_4xx_at_once(server: Server, data: bytes, status: int) -> None:
    got, headers, body, took = exchange(server, data)
    assert got == status, body
    assert headers["content-type"].startswith("application/json")
    assert orjson.loads(body)["error"]
    assert EMAIL.encode() not in body
    assert took < patience.seconds(2.0)  # refused at once, not when the client gives up


def test_a_gzip_body_without_its_header_is_refused_as_compressed(server: Server) -> None:
    response = requests.post(
        server.url + "/api/event",
        data=b"\x1f\x8b\x08\x00" + b"\x00" * 16,
        headers={"Content-Type": "application/json", "User-Agent": UA},
        timeout=patience.HTTP_S,
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_encoding"


def test_redirect_to_an_unencodable_host_is_a_400(server: Server) -> None:
    for to in ("https://shop.example../", "https://shop.example.../x", "https://.shop.example/"):
        response = requests.get(
            server.url + "/r",
            params={"site": "shop", "to": to},
            headers={"User-Agent": UA},
            allow_redirects=False,
            timeout=patience.HTTP_S,
        )
        assert response.status_code == 400, to
        assert response.json()["error"] == "redirect_not_allowed"


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("float", b"1e309"),
        ("negative", b"-1e400"),
        ("digits", b"1" * 4400),
        ("high", b'"\\ud800"'),
        ("low", b'"x\\udfff"'),
    ],
)
def test_one_unrepresentable_value_costs_only_its_own_event(
    server: Server, name: str, bad: bytes
) -> None:
    path = f"/salvaged-{name}"
    body = (
        b'[{"site": "shop", "url": "https://shop.example' + path.encode() + b'"},'
        b' {"site": "shop", "url": "https://shop.example/x", "props": {"n": ' + bad + b"}}]"
    )
    response = requests.post(
        server.url + "/api/event",
        data=body,
        headers={"Content-Type": "application/json", "User-Agent": UA},
        timeout=patience.HTTP_S,
    )
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 1
    assert [r["index"] for r in response.json()["rejected"]] == [1]
    assert server.wait_loaded(f"events WHERE path = '{path}'", 1) == 1


def test_error_bodies_never_echo_unknown_field_names(server: Server) -> None:
    response = requests.post(
        server.url + "/api/event",
        json={**OK, EMAIL: "x", "target": {"tag": "a", f"{EMAIL}2": 1}},
        headers={"User-Agent": UA},
        timeout=patience.HTTP_S,
    )
    assert response.status_code == 400
    assert EMAIL not in response.text
    errors = response.json()["rejected"][0]["errors"]
    assert errors["_unknown"] == ["unknown field at position 2"]
    assert errors["target"] == {"_unknown": ["unknown field at position 1"]}
    consent = requests.post(
        server.url + "/api/consent",
        json={"site": "shop", "visitor_id": "v", "consent": "granted", EMAIL: 1},
        headers={"User-Agent": UA},
        timeout=patience.HTTP_S,
    )
    assert consent.status_code == 400
    assert EMAIL not in consent.text


def test_the_log_holds_no_client_address_request_line_or_query(server: Server) -> None:
    for _name, data, _status in MALFORMED:
        exchange(server, data)
    requests.get(
        server.url + "/r",
        params={"site": "shop", "to": "https://shop.example../", "e": EMAIL},
        headers={"User-Agent": UA},
        timeout=patience.HTTP_S,
    )
    log = server.log_path.read_text()
    assert "malformed request" in log  # the refusals are logged, by type
    assert EMAIL not in log
    assert "jane.doe" not in log
    assert "ip=" not in log
    assert "HTTP/9.9" not in log
    assert "Traceback" not in log
