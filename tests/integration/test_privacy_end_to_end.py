"""Mixed real traffic through ``clearcount serve``; every consent rule read back from
DuckDB, then every stored byte (Parquet decoded) and the server's log scanned for
anything raw that was sent."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests import patience
from tests.integration.server import Server

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.85 Safari/537.36 clearcount-e2e"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1 clearcount-e2e"
GOOGLEBOT = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) clearcount-e2e"
)
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36 clearcount-e2e"

IPV4_GB = "81.2.69.142"
IPV4_US = "8.8.4.4"
IPV6_DE = "2a00:1450:4001:82a:3c5d:1e2f:abcd:1234"
VISITOR = "vid-7c1e9a53d2f04b8e"
USER = "uid-000042-jane"
EMAIL = "jane.doe@mail.example"
PHONE = "+44 20 7946 0958"
PHONE_DIGITS = "2079460958"
TOKEN = "tok3n-s3cr3t-9f8e"

SHOP = {"Origin": "https://shop.example"}


def h(ip: str, ua: str = CHROME, **extra: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip, "User-Agent": ua, **SHOP, **extra}


TRAFFIC: list[tuple[dict[str, str], Any]] = [
    # implied (site default), PII in path, query, referrer and props
    (
        h(IPV4_GB),
        {
            "site": "shop",
            "url": f"https://shop.example/account/{EMAIL}?token={TOKEN}&utm_source=news&utm_campaign=nov",
            "referrer": f"https://www.google.com/search?q={EMAIL}",
            "props": {"contact": PHONE, "plan": "pro"},
            "marker": None,
        },
    ),
    # granted, IPv6, stable ids
    (
        h(IPV6_DE, IPHONE),
        [
            {
                "site": "shop",
                "url": "https://shop.example/a",
                "consent": "granted",
                "visitor_id": VISITOR,
                "user_id": USER,
            },
            {
                "site": "shop",
                "url": "https://shop.example/b",
                "consent": "granted",
                "visitor_id": VISITOR,
                "user_id": USER,
                "type": "click",
                "target": {
                    "tag": "a",
                    "text": f"Mail {EMAIL} or call {PHONE}",
                    "href": f"https://partner.example/x?email={EMAIL}",
                },
                # behaviour fields: an id that is a phone number is scrubbed from the selector
                "x": 412,
                "y": 1830,
                "vw": 390,
                "selector": f"li#tel-{PHONE_DIGITS} > a.call",
                "rage": False,
            },
        ],
    ),
    # denied by the event, by GPC and by DNT (even when the event says granted)
    (h(IPV4_US), {"site": "shop", "url": "https://shop.example/d1", "consent": "denied"}),
    (
        h(IPV4_US, **{"Sec-GPC": "1"}),
        {
            "site": "shop",
            "url": "https://shop.example/d2",
            "consent": "granted",
            "visitor_id": VISITOR,
        },
    ),
    (
        h(IPV4_US, DNT="1"),
        {
            "site": "shop",
            "url": "https://shop.example/d3",
            "consent": "granted",
            "visitor_id": VISITOR,
        },
    ),
    # a site that ignores DNT keeps the event
    (
        {
            "X-Forwarded-For": IPV4_US,
            "User-Agent": CHROME,
            "Origin": "https://nodnt.example",
            "DNT": "1",
        },
        {"site": "nodnt", "url": "https://nodnt.example/kept"},
    ),
    # opt-in site: implied counts as denied, granted is kept
    (
        {"X-Forwarded-For": IPV4_GB, "User-Agent": CHROME, "Origin": "https://optin.example"},
        [
            {"site": "optin", "url": "https://optin.example/x"},
            {
                "site": "optin",
                "url": "https://optin.example/y",
                "consent": "granted",
                "visitor_id": VISITOR,
            },
        ],
    ),
    # bots, with PII too: quarantined, minimized the same way
    (h(IPV4_GB, GOOGLEBOT), {"site": "shop", "url": f"https://shop.example/bot?e={EMAIL}"}),
    (h(IPV6_DE, HEADLESS), {"site": "shop", "url": f"https://shop.example/u/{EMAIL}"}),
]


def _strip_markers(body: Any) -> Any:
    if isinstance(body, list):
        return [_strip_markers(b) for b in body]
    return {k: v for k, v in body.items() if k != "marker"}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("e2e")).start()
    try:
        for headers, body in TRAFFIC:
            response = server.post(_strip_markers(body), headers)
            assert response.status_code == 202, response.text
        # Pixel and redirect carry PII in their query strings too.
        import requests

        requests.get(
            f"{server.url}/api/pixel.gif",
            params={"site": "shop", "url": f"https://shop.example/p?email={EMAIL}", "c": "nov"},
            headers={"X-Forwarded-For": IPV4_GB, "User-Agent": CHROME},
            timeout=patience.HTTP_S,
        )
        requests.get(
            f"{server.url}/r",
            params={"site": "shop", "to": "https://shop.example/sale?utm_campaign=nov", "c": "nov"},
            headers={"X-Forwarded-For": IPV4_GB, "User-Agent": CHROME},
            allow_redirects=False,
            timeout=patience.HTTP_S,
        )
        # Malformed HTTP carrying PII, and a request that used to end in a 500: the refusals
        # are logged by type only, never with the request line or the client's address.
        import socket

        for raw in (
            f"GET /r?site=shop&e={EMAIL} HTTP/9.9\r\nHost: x\r\n\r\n".encode(),
            f"{EMAIL} {PHONE}\r\n\r\n".encode(),
            f"GET /api/pixel.gif?site=shop&url=x HTTP/1.1\r\nX-Bad {EMAIL}\r\n\r\n".encode(),
        ):
            with socket.create_connection(("127.0.0.1", server.port), timeout=patience.HTTP_S) as s:
                s.sendall(raw)
                s.recv(4096)
        requests.get(
            f"{server.url}/r",
            params={"site": "shop", "to": "https://shop.example../", "e": EMAIL},
            headers={"X-Forwarded-For": IPV4_GB, "User-Agent": CHROME},
            allow_redirects=False,
            timeout=patience.HTTP_S,
        )
    finally:
        server.stop()
    return server


def rows(server: Server, sql: str) -> list[dict[str, Any]]:
    import duckdb

    con = duckdb.connect(str(server.data_dir / "clearcount.duckdb"), read_only=True)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    finally:
        con.close()


def test_denied_events_leave_only_counts(loaded: Server) -> None:
    paths = {r["path"] for r in rows(loaded, "SELECT path FROM events")}
    assert not paths & {"/d1", "/d2", "/d3", "/x"}
    counts = {
        (r["site"], r["reason"]): r["count"]
        for r in rows(loaded, "SELECT site, reason, count FROM denied_counts")
    }
    assert counts == {
        ("shop", "event"): 1,
        ("shop", "gpc"): 1,
        ("shop", "dnt"): 1,
        ("optin", "site_default"): 1,
    }


def test_implied_row(loaded: Server) -> None:
    (row,) = rows(loaded, "SELECT * FROM events WHERE path LIKE '/account/%'")
    assert row["consent"] == "implied"
    assert row["visitor_key"] is not None
    assert row["user_key"] is None
    assert row["ip_prefix"] is None
    assert row["country"] == "GB"
    assert row["browser"] == "Chrome"
    assert row["device"] == "desktop"
    assert row["url"] == "https://shop.example/account/[redacted]?utm_source=news&utm_campaign=nov"
    assert row["referrer_host"] == "www.google.com"
    assert row["source"] == "search"
    assert row["utm_campaign"] == "nov"
    assert row["policy_version"] == "1"
    assert row["props"] == '{"contact":"[redacted]","plan":"pro"}'


def test_granted_rows_share_a_stable_key_and_keep_prefixes(loaded: Server) -> None:
    granted = rows(
        loaded, "SELECT * FROM events WHERE site = 'shop' AND consent = 'granted' ORDER BY path"
    )
    assert [r["path"] for r in granted] == ["/a", "/b"]
    assert len({r["visitor_key"] for r in granted}) == 1
    assert len({r["user_key"] for r in granted}) == 1
    assert granted[0]["user_key"] is not None
    assert {r["ip_prefix"] for r in granted} == {"2a00:1450:4001::/48"}
    assert {r["device"] for r in granted} == {"mobile"}
    click = granted[1]
    assert click["target"]["text"] == "Mail [redacted] or call [redacted]"
    assert click["target"]["href"] == "https://partner.example/x"
    assert click["selector"] == "li#tel-[redacted] > a.call"
    assert (click["x"], click["y"], click["vw"], click["rage"]) == (412, 1830, 390, False)
    # The same visitor_id on another site is another pseudonym.
    (optin,) = rows(loaded, "SELECT visitor_key FROM events WHERE site = 'optin'")
    assert optin["visitor_key"] != granted[0]["visitor_key"]


def test_site_that_ignores_dnt_keeps_the_event(loaded: Server) -> None:
    assert rows(loaded, "SELECT path FROM events WHERE site = 'nodnt'") == [{"path": "/kept"}]


def test_bots_are_quarantined_with_reasons(loaded: Server) -> None:
    quarantined = rows(loaded, "SELECT drop_reason, url FROM quarantine ORDER BY drop_reason")
    assert [r["drop_reason"] for r in quarantined] == ["bot", "headless"]
    assert all("[redacted]" in r["url"] or "e=" not in r["url"] for r in quarantined)
    assert not rows(loaded, "SELECT * FROM events WHERE path IN ('/bot')")


def test_pixel_open_and_redirect_click_land_as_campaign_events(loaded: Server) -> None:
    found = rows(
        loaded,
        "SELECT type, utm_campaign, source, url FROM events WHERE utm_campaign = 'nov' "
        "AND type IN ('open', 'click') ORDER BY type",
    )
    assert [(r["type"], r["source"]) for r in found] == [("click", "email"), ("open", "email")]
    assert found[1]["url"] == "https://shop.example/p"


# --- the invariant: nothing raw in any stored byte or log line -----------------------------


def _ipv6_forms(ip: str) -> list[str]:
    addr = ipaddress.IPv6Address(ip)
    return [str(addr), addr.exploded, ip]


NEEDLES = [
    IPV4_GB,
    IPV4_US,
    *_ipv6_forms(IPV6_DE),
    CHROME,
    IPHONE,
    GOOGLEBOT,
    HEADLESS,
    "clearcount-e2e",
    VISITOR,
    USER,
    EMAIL,
    "jane.doe%40mail.example",
    "jane.doe",
    PHONE,
    PHONE_DIGITS,
    "7946 0958",
    TOKEN,
]


def _decoded(path: Path) -> bytes:
    if path.suffix == ".parquet":
        return repr(pq.read_table(path).to_pylist()).encode()
    return b""


def test_no_raw_identifier_in_any_stored_byte_or_log(loaded: Server) -> None:
    files = [p for p in loaded.root.rglob("*") if p.is_file() and p.name != "sites.toml"]
    assert any(p.suffix == ".parquet" for p in files)
    assert loaded.log_path in files
    # The scan must see decoded rows, or compressed Parquet would hide what it looks for.
    assert any(b"[redacted]" in _decoded(p) for p in files)
    for path in files:
        blob = path.read_bytes() + b"\n" + _decoded(path)
        for needle in NEEDLES:
            assert needle.encode() not in blob, f"{needle!r} found in {path}"
            assert needle.lower().encode() not in blob.lower(), f"{needle!r} found in {path}"
