"""Facts derived from the raw client, computed once per request and kept in its memo.

A batch of 20 events comes from one client, so parsing its IP, looking up
its country or hashing it once per event would be 20 times the work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import iptocc

from service.ingest.event import Client
from service.privacy.ip import IPAddress, hashing_identity, ip_prefix, parse_ip
from service.privacy.pseudonym import daily_visitor_key, hmac64
from service.privacy.scrub import scrub_url


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


def scrubbed_url(
    client: Client, url: str, allowlist: tuple[str, ...], *, route: bool
) -> str | None:
    """``scrub_url`` once per distinct URL in a request: a batch shares its page and referrer."""
    memo_key = ("url", url, allowlist, route)
    if memo_key not in client.memo:
        client.memo[memo_key] = scrub_url(url, allowlist, keep_route_fragment=route)
    clean: str | None = client.memo[memo_key]
    return clean


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
