"""DESIGN §4 as one table: what each consent state stores, field by field."""

from __future__ import annotations

from typing import Any

import pytest

from service.ingest.event import Dropped, DropReason, Event
from service.privacy.pseudonym import daily_visitor_key, hmac64
from tests.conftest import CHROME_UA, NOW, client, make_site, run_one

ABSENT = object()  # the field is None in the stored row
DAILY_HASH = object()  # HMAC(today's salt, site + IP (/64 for IPv6) + UA)
STABLE_HMAC = object()  # HMAC(site secret, visitor_id)
USER_HMAC = object()  # HMAC(site secret, user_id)
NO_ROW = object()  # denied: only an aggregate count

VISITOR, USER = "visitor-7f3a", "user-1234"
GB_IP, IPV6 = "81.2.69.142", "2001:db8:85a3:8d3:1319:8a2e:370:7348"
PAGE = "https://shop.example/cart?utm_source=news&session=s3cr3t&email=jo@mail.example"


@pytest.mark.parametrize(
    ("consent", "field", "stored"),
    [
        ("denied", "row", NO_ROW),
        ("implied", "visitor_key", DAILY_HASH),
        ("implied", "user_key", ABSENT),
        ("implied", "ip_prefix", ABSENT),
        ("implied", "country", "GB"),
        ("implied", "browser", "Chrome"),
        ("implied", "os", "Windows"),
        ("implied", "device", "desktop"),
        ("implied", "url", "https://shop.example/cart?utm_source=news"),
        ("implied", "policy_version", "7"),
        ("implied", "consent", "implied"),
        ("granted", "visitor_key", STABLE_HMAC),
        ("granted", "user_key", USER_HMAC),
        ("granted", "ip_prefix", "81.2.69.0/24"),
        ("granted", "country", "GB"),
        ("granted", "browser", "Chrome"),
        ("granted", "os", "Windows"),
        ("granted", "device", "desktop"),
        ("granted", "url", "https://shop.example/cart?utm_source=news"),
        ("granted", "policy_version", "7"),
        ("granted", "consent", "granted"),
    ],
)
def test_consent_policy(make_ctx: Any, consent: str, field: str, stored: object) -> None:
    ctx = make_ctx(make_site(policy_version="7"))
    payload = {
        "site": "shop",
        "url": PAGE,
        "consent": consent,
        "visitor_id": VISITOR,
        "user_id": USER,
    }
    outcome = run_one(ctx, payload, client(GB_IP))
    if stored is NO_ROW:
        assert isinstance(outcome, Dropped)
        assert outcome.reason is DropReason.CONSENT_DENIED
        assert outcome.count_record == {
            "k": "d",
            "site": "shop",
            "date": "2026-11-24",
            "type": "pageview",
            "reason": "event",
        }
        return
    assert isinstance(outcome, Event)
    assert outcome.row is not None
    value = outcome.row[field]
    secret = ctx.keys.site_secret("shop")
    salt = ctx.keys.daily_salt(NOW.date())
    expected = {
        ABSENT: None,
        DAILY_HASH: daily_visitor_key(salt, "shop", GB_IP, CHROME_UA),
        STABLE_HMAC: hmac64(secret, VISITOR),
        USER_HMAC: hmac64(secret, USER),
    }.get(stored, stored)
    assert value == expected


@pytest.mark.parametrize(
    ("site_options", "headers", "event_consent", "resolved"),
    [
        ({}, {"gpc": True}, "granted", ("denied", "gpc")),
        ({}, {"dnt": True}, "granted", ("denied", "dnt")),
        ({"honor_dnt": False}, {"dnt": True}, "granted", ("granted", "event")),
        ({"honor_dnt": False}, {"gpc": True}, "implied", ("implied", "event")),
        ({}, {}, None, ("implied", "site_default")),
        ({"default_consent": "denied"}, {}, None, ("denied", "site_default")),
        ({"require_opt_in": True}, {}, None, ("denied", "opt_in_required")),
        ({"require_opt_in": True}, {}, "implied", ("denied", "opt_in_required")),
        ({"require_opt_in": True}, {}, "granted", ("granted", "event")),
        ({"default_consent": "denied"}, {}, "granted", ("granted", "event")),
    ],
)
def test_consent_resolution_first_match_wins(
    make_ctx: Any,
    site_options: dict[str, Any],
    headers: dict[str, bool],
    event_consent: str | None,
    resolved: tuple[str, str],
) -> None:
    ctx = make_ctx(make_site(**site_options))
    payload: dict[str, Any] = {"site": "shop", "url": "https://shop.example/"}
    if event_consent:
        payload["consent"] = event_consent
    outcome = run_one(ctx, payload, client(**headers))
    state, reason = resolved
    if state == "denied":
        assert isinstance(outcome, Dropped)
        assert outcome.count_record is not None
        assert outcome.count_record["reason"] == reason
    else:
        assert isinstance(outcome, Event)
        assert outcome.row is not None
        assert outcome.row["consent"] == state


def test_gpc_header_overrides_granted_consent(make_ctx: Any) -> None:
    outcome = run_one(
        make_ctx(),
        {
            "site": "shop",
            "url": "https://shop.example/",
            "consent": "granted",
            "visitor_id": VISITOR,
        },
        client(gpc=True),
    )
    assert isinstance(outcome, Dropped)
    assert outcome.reason is DropReason.CONSENT_DENIED


def test_granted_without_visitor_id_falls_back_to_daily_hash(make_ctx: Any) -> None:
    ctx = make_ctx()
    outcome = run_one(ctx, {"site": "shop", "url": "https://shop.example/", "consent": "granted"})
    assert isinstance(outcome, Event)
    assert outcome.row is not None
    salt = ctx.keys.daily_salt(NOW.date())
    assert outcome.row["visitor_key"] == daily_visitor_key(salt, "shop", "198.51.100.23", CHROME_UA)


def test_implied_ignores_client_visitor_and_user_ids(make_ctx: Any) -> None:
    ctx = make_ctx()
    payload = {
        "site": "shop",
        "url": "https://shop.example/",
        "visitor_id": VISITOR,
        "user_id": USER,
    }
    outcome = run_one(ctx, payload)
    assert isinstance(outcome, Event)
    assert outcome.row is not None
    assert outcome.row["visitor_key"] != hmac64(ctx.keys.site_secret("shop"), VISITOR)
    assert outcome.row["user_key"] is None


def test_ipv6_granted_prefix_is_48_and_daily_hash_uses_64(make_ctx: Any) -> None:
    ctx = make_ctx()
    payload = {"site": "shop", "url": "https://shop.example/", "consent": "granted"}
    first = run_one(ctx, payload, client(IPV6))
    # Same /64, new interface identifier: a privacy address rotation.
    second = run_one(ctx, payload, client("2001:db8:85a3:8d3:aaaa:bbbb:cccc:dddd"))
    assert isinstance(first, Event)
    assert isinstance(second, Event)
    assert first.row is not None
    assert second.row is not None
    assert first.row["ip_prefix"] == "2001:db8:85a3::/48"
    assert first.row["visitor_key"] == second.row["visitor_key"]


def test_daily_hash_changes_with_the_day(make_ctx: Any) -> None:
    import datetime as dt

    ctx = make_ctx()
    payload = {"site": "shop", "url": "https://shop.example/"}
    today = run_one(ctx, payload, client())
    tomorrow = run_one(ctx, payload, client(at=NOW + dt.timedelta(days=1)))
    assert isinstance(today, Event)
    assert isinstance(tomorrow, Event)
    assert today.row is not None
    assert tomorrow.row is not None
    assert today.row["visitor_key"] != tomorrow.row["visitor_key"]


def test_minimized_event_keeps_nothing_raw(make_ctx: Any) -> None:
    outcome = run_one(
        make_ctx(),
        {"site": "shop", "url": PAGE, "consent": "granted", "visitor_id": VISITOR, "user_id": USER},
        client(GB_IP),
    )
    assert isinstance(outcome, Event)
    assert outcome.client is None
    assert outcome.fields is None
    assert outcome.raw is None
    text = repr(outcome.row)
    for raw in (GB_IP, CHROME_UA, VISITOR, USER, "jo@mail.example", "s3cr3t"):
        assert raw not in text
