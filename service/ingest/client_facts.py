"""Facts derived from the raw client, computed once per request and kept in its memo.

A batch of 20 events comes from one client, so parsing its IP, looking up
its country or hashing it once per event would be 20 times the work.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable

import iptocc

from service.ingest.event import Client
from service.privacy.ip import IPAddress, hashing_identity, ip_prefix, parse_ip
from service.privacy.pseudonym import daily_visitor_key, hmac64
from service.privacy.scrub import scrub_page_url


def client_ip(client: Client) -> IPAddress | None:
    if "ip" not in client.memo:
        client.memo["ip"] = parse_ip(client.ip)
    ip: IPAddress | None = client.memo["ip"]
    return ip


def country(client: Client) -> str | None:
    """ISO country of registration of a public address; None for private or unknown."""
    if "country" not in client.memo:
        ip = client_ip(client)
        client.memo["country"] = (
            iptocc.country_code(str(ip)) if ip is not None and ip.is_global else None
        )
    code: str | None = client.memo["country"]
    return code


def network_prefix(client: Client) -> str | None:
    if "prefix" not in client.memo:
        ip = client_ip(client)
        client.memo["prefix"] = ip_prefix(ip) if ip is not None else None
    prefix: str | None = client.memo["prefix"]
    return prefix


def daily_key(client: Client, site: str, salt: bytes) -> int:
    """The implied-consent visitor key of this client on this site today."""
    memo_key = ("daily", site, salt)
    if memo_key not in client.memo:
        ip = client_ip(client)
        identity = hashing_identity(ip) if ip is not None else client.ip
        client.memo[memo_key] = daily_visitor_key(salt, site, identity, client.user_agent)
    key: int = client.memo[memo_key]
    return key


def scrubbed_page(
    client: Client,
    url: str,
    allowlist: tuple[str, ...],
    *,
    route: bool,
    redact_ip_host: bool = False,
) -> tuple[str, str] | None:
    """``scrub_page_url`` (the URL and its path) once per distinct URL in a request:
    a batch shares its page and referrer."""
    memo_key = ("url", url, allowlist, route, redact_ip_host)
    if memo_key not in client.memo:
        client.memo[memo_key] = scrub_page_url(
            url, allowlist, keep_route_fragment=route, redact_ip_host=redact_ip_host
        )
    page: tuple[str, str] | None = client.memo[memo_key]
    return page


def stable_key(client: Client, secret: bytes, identifier: str) -> int:
    """HMAC(site secret, id) once per distinct id in a request."""
    memo_key = ("stable", secret, identifier)
    if memo_key not in client.memo:
        client.memo[memo_key] = hmac64(secret, identifier)
    key: int = client.memo[memo_key]
    return key


def salt_day(client: Client, today: Callable[[], dt.date]) -> dt.date:
    """The day whose salt hashes this client: its own, unless a backfilled day older than
    yesterday, whose salt is destroyed for good (then today's). Once per request and day."""
    day = client.received_at.date()
    memo_key = ("salt_day", day)
    if memo_key not in client.memo:
        now = today()
        client.memo[memo_key] = day if day >= now - dt.timedelta(days=1) else now
    chosen: dt.date = client.memo[memo_key]
    return chosen


MAX_EVENT_ID_DRAW_SHIFT = 6  # at most 64 ids a draw (a batch holds at most 100 events)


def event_id(client: Client) -> str:
    """A random 128-bit event id, drawn from a pool that doubles each time it runs dry.

    ``os.urandom`` releases the GIL on every call, and in a busy worker every
    release hands the CPU to another thread; a batch of 20 draws 5 times, not 20.
    """
    pool: list[str] | None = client.memo.get("event_ids")
    if not pool:
        draws: int = client.memo.get("event_id_draws", 0)
        client.memo["event_id_draws"] = draws + 1
        raw = os.urandom(16 << min(draws, MAX_EVENT_ID_DRAW_SHIFT))
        pool = client.memo["event_ids"] = [raw[i : i + 16].hex() for i in range(0, len(raw), 16)]
    return pool.pop()
