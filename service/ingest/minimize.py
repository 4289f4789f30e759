"""minimize: apply the consent state and the scrubbing rules; drop everything raw.

The row this stage returns is the only form of the event that reaches disk.
What each consent state keeps (DESIGN §4):

    field          implied                 granted
    visitor_key    daily salted hash       HMAC(site secret, visitor_id), else daily hash
    user_key       —                       HMAC(site secret, user_id)
    ip_prefix      —                       IPv4 /24, IPv6 /48
    url, referrer  scrubbed                scrubbed
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from service.ingest.client_facts import (
    daily_key,
    event_id,
    network_prefix,
    salt_day,
    scrubbed_page,
    stable_key,
)
from service.ingest.event import Context, Dropped, DropReason, Event, Fields, Target
from service.ingest.rules import MAX_SELECTOR
from service.privacy.pii import REDACTED, redact_text
from service.privacy.scrub import redact_ip_host, scrub_url
from service.privacy.tombstones import tombstone_name

MAX_CLICK_TEXT = 100
BEHAVIOUR_COLUMNS = (
    "x",
    "y",
    "vw",
    "selector",
    "rage",
    "dead",
    "hover",
    "lcp_ms",
    "inp_ms",
    "cls",
    "fcp_ms",
    "ttfb_ms",
)
# A JSON number is checked by its digits, as text would be; a nine-digit id (a US SSN)
# sent as a number loses its leading zero, so eight digits are enough.
MIN_NUMBER_DIGITS = 8


def _scrub_number(value: float) -> float | str:
    """Eight digits or more before the point: redacted (compared as a number: a huge
    integer never has to be written out in digits)."""
    if isinstance(value, float) and not math.isfinite(value):
        return value
    return REDACTED if abs(value) >= 10 ** (MIN_NUMBER_DIGITS - 1) else value


def scrub_props(props: Mapping[str, Any] | None) -> str | None:
    """Props as a JSON object with PII redacted in keys, strings and numbers."""
    if not props:
        return None
    clean: dict[str, Any] = {}
    for key, value in props.items():
        if isinstance(value, str):
            value = redact_text(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = _scrub_number(value)
        clean[redact_text(key)] = value
    return orjson.dumps(clean).decode()


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    collapsed = " ".join(redact_text(text).split())
    return collapsed[:limit] or None


def scrub_target(target: Target | None, allowlist: tuple[str, ...]) -> dict[str, Any] | None:
    """The clicked element, its link scrubbed like a URL and its text redacted and capped."""
    if target is None:
        return None
    return {
        "tag": _clip(target.tag.lower() if target.tag else None, 32),
        "id": _clip(target.id, 128),
        "classes": _clip(target.classes, 256),
        "href": scrub_url(target.href, allowlist, redact_ip_host=True) if target.href else None,
        "text": _clip(target.text, MAX_CLICK_TEXT),
    }


DIGIT_RUN = re.compile(r"\d{5,}")


def scrub_selector(selector: str | None) -> str | None:
    """The clicked element's CSS path, its ids and classes redacted like a click's, and
    any run of five digits or more too: ids that number a record (``order-12345678``) may
    number a person, and a selector comes with every click."""
    clipped = _clip(selector, MAX_SELECTOR)
    return DIGIT_RUN.sub(REDACTED, clipped) if clipped else None


def behaviour(f: Fields, heatmaps: bool, vitals: bool) -> dict[str, Any]:
    """The behaviour columns (DESIGN §9) the site has turned on; the rest stay null, so a
    site that never asked for them stores none of what a client sends anyway."""
    columns: dict[str, Any] = dict.fromkeys(BEHAVIOUR_COLUMNS)
    if heatmaps:
        columns.update(
            x=f.x,
            y=f.y,
            vw=f.vw,
            selector=scrub_selector(f.selector),
            rage=f.rage,
            dead=f.dead,
            hover=[{"col": c, "row": r, "ms": ms} for c, r, ms in f.hover] if f.hover else None,
        )
    if vitals and f.vitals:
        for name, value in f.vitals.items():
            if value is not None:
                column = "cls" if name == "cls" else f"{name}_ms"
                columns[column] = round(value, 4) if name == "cls" else round(value)
    return columns


def received_ms(event: Event, ctx: Context) -> int:
    """When the event happened, in ms. One request's events share its arrival time: each
    is stored a millisecond after the one before it, so the order it was sent in (entry
    page, funnel steps) survives; a backfilled event keeps its own ``ts``."""
    assert event.client
    at = int(event.client.received_at.timestamp() * 1000)
    stamped = ctx.settings.backfill and isinstance(event.raw, dict) and "ts" in event.raw
    return at if stamped else at + event.index


def pseudonyms(event: Event, ctx: Context) -> tuple[int | None, int | None, str | None]:
    """(visitor_key, user_key, ip_prefix) as the consent state allows."""
    assert event.fields
    assert event.client
    assert event.site
    assert event.consent
    f, client, site = event.fields, event.client, event.site
    salt = ctx.keys.daily_salt(salt_day(client, lambda: ctx.clock().date()))
    if event.consent.state != "granted":
        return daily_key(client, site.id, salt), None, None
    secret = ctx.keys.site_secret(site.id)
    # HMAC(site secret, visitor_id) and HMAC(site secret, user_id), as DESIGN §4 states.
    visitor = (
        stable_key(client, secret, f.visitor_id)
        if f.visitor_id
        else daily_key(client, site.id, salt)
    )
    user = stable_key(client, secret, f.user_id) if f.user_id else None
    return visitor, user, network_prefix(client)


def erased(ctx: Context, site: str, visitor: int | None, user: int | None) -> bool:
    """True when the visitor or user asked to be forgotten and the block still runs."""
    assert ctx.tombstones is not None
    secret = ctx.keys.site_secret(site)
    return any(
        key is not None and tombstone_name(secret, column, key) in ctx.tombstones
        for column, key in (("visitor_key", visitor), ("user_key", user))
    )


def minimize(event: Event, ctx: Context) -> Event | Dropped:
    """Stage: build the stored row; the raw client and payload are left behind."""
    assert event.fields
    assert event.client
    assert event.site
    assert event.consent
    assert event.traits
    f, site, traits = event.fields, event.site, event.traits
    allowlist = site.query_allowlist
    client = event.client
    # validate admits only http(s) URLs; the fallback guards the invariant anyway
    url, path = scrubbed_page(client, f.url, allowlist, route=True) or ("about:invalid", "")
    # A referrer whose host is an address may be the visitor's own machine: redacted.
    referrer = (
        scrubbed_page(client, f.referrer, allowlist, route=False, redact_ip_host=True)
        if f.referrer
        else None
    )
    visitor, user, prefix = pseudonyms(event, ctx)
    if ctx.tombstones and event.consent.state == "granted" and erased(ctx, site.id, visitor, user):
        return Dropped(event.index, DropReason.ERASED)
    row: dict[str, Any] = {
        "k": "q" if traits.bot_reason else "e",
        "event_id": event_id(client),
        "site": site.id,
        "type": f.type,
        "received_at": received_ms(event, ctx),
        "url": url,
        "path": path,
        "referrer": referrer[0] if referrer else None,
        "referrer_host": redact_ip_host(traits.referrer_host),
        "source": traits.source,
        "utm_source": traits.utm.get("utm_source"),
        "utm_medium": traits.utm.get("utm_medium"),
        "utm_campaign": traits.utm.get("utm_campaign"),
        "utm_term": traits.utm.get("utm_term"),
        "utm_content": traits.utm.get("utm_content"),
        "consent": event.consent.state,
        "visitor_key": visitor,
        "user_key": user,
        "ip_prefix": prefix,
        "country": traits.country,
        "browser": traits.browser,
        "browser_version": traits.browser_version,
        "os": traits.os,
        "device": traits.device,
        "name": _clip(f.name, 64),
        "props": scrub_props(f.props),
        "target": scrub_target(f.target, allowlist),
        "depth": f.depth,
        "engaged_ms": f.engaged_ms,
        "policy_version": site.policy_version,
    }
    if site.heatmaps or site.vitals:
        row.update(behaviour(f, site.heatmaps, site.vitals))
    if traits.bot_reason:
        row["drop_reason"] = traits.bot_reason.value
    return event.but(
        client=None,
        fields=None,
        raw=None,
        traits=None,
        row=row,
        table="quarantine" if traits.bot_reason else "events",
    )
