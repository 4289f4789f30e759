"""Every scrubbing rule, as a table: the rule, where it applies, what it removes."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.ingest.event import Event, Target
from service.ingest.minimize import scrub_props, scrub_target
from service.privacy import pii as pii_rules
from service.privacy.ip import hashing_identity, ip_prefix, parse_ip
from service.privacy.pii import (
    REDACTED,
    contains_pii,
    is_isbn13,
    redact_emails,
    redact_ip_addresses,
    redact_phone_numbers,
    redact_text,
)
from service.privacy.scrub import (
    _allowed,
    clean_query,
    scrub_page_url,
    scrub_url,
    strip_unlisted_query_params,
)
from tests.conftest import client, make_site, run_one

ALLOW = ("utm_source", "utm_medium", "utm_campaign", "ref", "q")


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("write to jo.doe+tag@mail.example.co.uk today", f"write to {REDACTED} today"),
        ("call +1 (555) 123-4567", f"call {REDACTED}"),
        ("call 020 7946 0958 now", f"call {REDACTED} now"),
        ("+44 20 7946 0958", REDACTED),
        ("order 123456789012", f"order {REDACTED}"),
        ("card 4111 1111 1111 1111", f"card {REDACTED}"),
        ("from 203.0.113.77", f"from {REDACTED}"),
        ("from 2001:db8::8a2e:370:7334", f"from {REDACTED}"),
        ("from 2001:0db8:85a3:0000:0000:8a2e:0370:7334", f"from {REDACTED}"),
        ("from dead:beef:cafe:face:dead:beef:cafe:face", f"from {REDACTED}"),
        ("Buy 2 for 19.99", "Buy 2 for 19.99"),
        ("on 2026-11-24", "on 2026-11-24"),
        ("at 12:30:45", "at 12:30:45"),
        ("page 12345678", "page 12345678"),
        ("std::vector", "std::vector"),
        ("Add to cart", "Add to cart"),
    ],
)
def test_redact_text(text: str, scrubbed: str) -> None:
    assert redact_text(text) == scrubbed


@pytest.mark.parametrize(
    ("rule", "text", "scrubbed"),
    [
        (redact_emails, "to jo@x.example or +1 555 123 4567", f"to {REDACTED} or +1 555 123 4567"),
        (
            redact_phone_numbers,
            "to jo@x.example or +1 555 123 4567",
            f"to jo@x.example or {REDACTED}",
        ),
        (redact_ip_addresses, "from 203.0.113.7 and ::1", f"from {REDACTED} and {REDACTED}"),
        (redact_ip_addresses, "order 123456789", "order 123456789"),
    ],
)
def test_each_rule_removes_only_its_own_kind(rule: Any, text: str, scrubbed: str) -> None:
    assert rule(text) == scrubbed


@pytest.mark.parametrize(
    ("url", "scrubbed"),
    [
        ("https://shop.example/a?utm_source=x&token=abc", "https://shop.example/a?utm_source=x"),
        ("https://shop.example/a?email=jo@x.example", "https://shop.example/a"),
        ("https://shop.example/a?q=jo@x.example", "https://shop.example/a?q=%5Bredacted%5D"),
        ("https://shop.example/u/jo@x.example/edit", f"https://shop.example/u/{REDACTED}/edit"),
        ("https://shop.example/u/jo%40x.example", f"https://shop.example/u/{REDACTED}"),
        ("https://user:pw@Shop.Example:8443/", "https://shop.example:8443/"),
        ("https://shop.example/#access_token=abc", "https://shop.example/"),
        ("https://shop.example/#/cart?id=5", "https://shop.example/#/cart"),
        ("https://shop.example/orders/5551234567", f"https://shop.example/orders/{REDACTED}"),
        ("https://shop.example", "https://shop.example/"),
        ("javascript:alert(1)", None),
        ("ftp://shop.example/", None),
        ("https://[2001:db8::1]/x", "https://[2001:db8::1]/x"),
    ],
)
def test_scrub_url(url: str, scrubbed: str | None) -> None:
    assert scrub_url(url, ALLOW) == scrubbed
    page = scrub_page_url(url, ALLOW)
    if scrubbed is None:
        assert page is None
    else:
        # The path column is the scrubbed URL's path and route fragment, found in one parse.
        parts = urlsplit(scrubbed)
        assert page == (scrubbed, parts.path + (f"#{parts.fragment}" if parts.fragment else ""))


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("utm_source=a&utm_medium=b&gclid=c&fbclid=d", [("utm_source", "a"), ("utm_medium", "b")]),
        ("ref=hn&sessionid=42", [("ref", "hn")]),
        ("q=shoes", [("q", "shoes")]),
        ("", []),
    ],
)
def test_strip_unlisted_query_params(query: str, kept: list[tuple[str, str]]) -> None:
    assert strip_unlisted_query_params(query, ALLOW) == kept


def test_allowlist_prefix_pattern() -> None:
    assert strip_unlisted_query_params("utm_x=1&u=2", ("utm_*",)) == [("utm_x", "1")]


@pytest.mark.parametrize(
    ("props", "stored"),
    [
        ({"plan": "pro", "seats": 3}, '{"plan":"pro","seats":3}'),
        ({"contact": "jo@x.example"}, '{"contact":"[redacted]"}'),
        ({"phone": 15551234567}, '{"phone":"[redacted]"}'),
        ({"jo@x.example": 1}, '{"[redacted]":1}'),
        ({"ok": True, "none": None, "ratio": 0.5}, '{"ok":true,"none":null,"ratio":0.5}'),
        ({}, None),
    ],
)
def test_scrub_props(props: dict[str, Any], stored: str | None) -> None:
    assert scrub_props(props) == stored


def test_click_target_is_scrubbed_and_capped() -> None:
    target = Target(
        tag="a",
        href="https://shop.example/x?token=1&utm_source=a",
        text="  Mail   jo@x.example " + "y" * 300,
    )
    clean = scrub_target(target, ALLOW)
    assert clean is not None
    assert clean["href"] == "https://shop.example/x?utm_source=a"
    assert clean["text"].startswith(f"Mail {REDACTED} y")
    assert len(clean["text"]) == 100


def test_javascript_href_is_dropped_not_stored() -> None:
    clean = scrub_target(Target(tag="a", href="javascript:void(0)"), ALLOW)
    assert clean is not None
    assert clean["href"] is None


@pytest.mark.parametrize(
    ("ip", "prefix", "identity"),
    [
        ("198.51.100.23", "198.51.100.0/24", "198.51.100.23"),
        ("::ffff:198.51.100.23", "198.51.100.0/24", "198.51.100.23"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::/48", "2001:db8:85a3:8d3::/64"),
    ],
)
def test_ip_rules(ip: str, prefix: str, identity: str) -> None:
    parsed = parse_ip(ip)
    assert parsed is not None
    assert ip_prefix(parsed) == prefix
    assert hashing_identity(parsed) == identity


# --- properties: nothing leaving minimize matches an IP, e-mail or phone pattern ----------

emails = st.from_regex(
    r"[a-z]{1,8}(\.[a-z]{1,5})?@[a-z]{2,8}\.(com|org|co\.uk|example)", fullmatch=True
)
# A 13-digit run that is an ISBN-13 (978/979 and its check digit) is kept on purpose.
phones = st.from_regex(
    r"\+?[1-9][0-9]{0,2}[ .-]?\(?[0-9]{3}\)?[ .-]?[0-9]{3}[ .-]?[0-9]{4}", fullmatch=True
).filter(lambda phone: phone.startswith("+") or not is_isbn13(phone))
ipv4s = st.ip_addresses(v=4).map(str)
ipv6s = (
    st.ip_addresses(v=6)
    .filter(lambda ip: ip.ipv4_mapped is None)
    .map(lambda ip: ipaddress.IPv6Address(ip).exploded)
)
pii = st.one_of(emails, phones, ipv4s, ipv6s)
words = st.text(st.sampled_from("abcdefghij -_/"), max_size=12)
noisy = st.tuples(words, pii, words).map("".join)


@settings(max_examples=150, deadline=None)
@given(text=noisy)
def test_property_redacted_text_matches_no_pii_pattern(text: str) -> None:
    assert not contains_pii(redact_text(text))


@settings(max_examples=150, deadline=None)
@given(before=words, secret=pii, after=words, rounds=st.integers(min_value=1, max_value=3))
def test_property_encoded_pii_is_decoded_and_redacted(
    before: str, secret: str, after: str, rounds: int
) -> None:
    text = f"{before}{secret}{after}"
    for _ in range(rounds):
        text = quote(text, safe="")
    out = redact_text(text)
    assert secret not in out
    assert not contains_pii(out)


def _b64(text: str, alphabet: str) -> str:
    raw = text.encode()
    return (
        base64.b64encode(raw).decode()
        if alphabet == "std"
        else base64.urlsafe_b64encode(raw).decode().rstrip("=")
    )


def _joined(ip: str, how: str) -> str:
    parts = [int(p) for p in ip.split(".")]
    if how == "underscore":
        return "_".join(map(str, parts))
    if how == "hex":
        return "0x" + "".join(f"{p:02x}" for p in parts)
    return ".".join([f"0x{parts[0]:x}", *map(str, parts[1:])])  # a hex first part


phone_digits = st.from_regex(r"[2-9][0-9]{2}", fullmatch=True).flatmap(
    lambda area: st.tuples(
        st.just(area),
        st.from_regex(r"[0-9]{3}", fullmatch=True),
        st.from_regex(r"[0-9]{4}", fullmatch=True),
        st.sampled_from(["_", "*", ",", "--", " / ", "a", "x"]),
    )
)
# The disguises a hostile tester found, each around a real e-mail, phone number or address.
disguised = st.one_of(
    emails.map(lambda e: e.replace("@", "&#64;")),
    emails.map(lambda e: e.replace("@", "&commat;")),
    emails.map(lambda e: e.replace("@", "%u0040")),
    emails.map(lambda e: e[0] + "\u200b" + e[1:]),
    emails.map(lambda e: e.replace("@", "\u2060@")),
    emails.map(lambda e: e.replace(".", "\u00ad.")),
    emails.map(lambda e: '"' + e.replace("@", ' x"@', 1)),  # a quoted local part
    st.tuples(emails, st.sampled_from(["std", "url"])).map(lambda t: _b64(*t)),
    phone_digits.map(lambda t: t[3].join(t[:3])),
    st.tuples(ipv4s, st.sampled_from(["underscore", "hex", "hex part"])).map(lambda t: _joined(*t)),
)


@settings(max_examples=300, deadline=None)
@given(before=words, secret=disguised, after=words)
def test_property_disguised_pii_is_redacted(before: str, secret: str, after: str) -> None:
    """Each disguise, as a token of its own between words (a base64 run glued to letters is
    another run, which decodes to nothing)."""
    out = redact_text(f"{before} {secret} {after}")
    assert secret not in out
    assert not contains_pii(out)


# The context only holds keys, which are meant to stay the same across examples.
SHARED_CTX = [HealthCheck.function_scoped_fixture]


@settings(max_examples=100, deadline=None, suppress_health_check=SHARED_CTX)
@given(path_pii=pii, prop_pii=pii, text_pii=pii, ref_pii=pii)
def test_property_minimized_rows_hold_no_pii(
    make_ctx: Any, path_pii: str, prop_pii: str, text_pii: str, ref_pii: str
) -> None:
    payload = {
        "site": "shop",
        "type": "click",
        "url": f"https://shop.example/p/{path_pii}?utm_campaign={path_pii}&x={path_pii}",
        "referrer": f"https://ref.example/{ref_pii}",
        "consent": "granted",
        "visitor_id": "v",
        "name": None,
        "props": {"note": f"see {prop_pii}"},
        "target": {"tag": "a", "text": f"mail {text_pii}", "href": f"https://x.example/{text_pii}"},
    }
    outcome = run_one(make_ctx(), payload, client("203.0.113.9"))
    assert isinstance(outcome, Event)
    assert outcome.row is not None
    for key, value in outcome.row.items():
        if isinstance(value, str) and key not in ("ip_prefix", "event_id"):
            assert not contains_pii(value), (key, value)
    assert not contains_pii(str(outcome.row["target"]))


@settings(max_examples=50, deadline=None, suppress_health_check=SHARED_CTX)
@given(visitor=st.text(min_size=1, max_size=40))
def test_property_same_input_salt_and_key_give_same_pseudonym(make_ctx: Any, visitor: str) -> None:
    ctx = make_ctx()
    payload = {
        "site": "shop",
        "url": "https://shop.example/",
        "consent": "granted",
        "visitor_id": visitor,
    }
    a, b = run_one(ctx, payload), run_one(ctx, payload)
    assert isinstance(a, Event)
    assert isinstance(b, Event)
    assert a.row
    assert b.row
    assert a.row["visitor_key"] == b.row["visitor_key"]


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(noisy, st.text(max_size=60)))
def test_property_the_cheap_gate_never_changes_what_is_redacted(text: str) -> None:
    plain = pii_rules._plain(text)
    spans = pii_rules._spans(plain)
    assert redact_text(text) == (pii_rules._replace(plain, spans) if spans else text)


query_parts = st.sampled_from(
    ["utm_source", "utm_x", "q", "ref", "sid", "a+b", "u%74m_source", "%", "utm_term"]
)
query_values_ = st.one_of(
    st.text(st.sampled_from("ab1@.=+%&;~-_/ "), max_size=8),
    st.sampled_from(["jo@mail.example", "4111111111111111", "10.1.2.3", "x.y-z~1"]),
)
queries = st.lists(
    st.tuples(query_parts, st.sampled_from(["=", ""]), query_values_).map("".join), max_size=6
).map("&".join)


@settings(max_examples=300, deadline=None)
@given(query=queries)
def test_property_query_filter_keeps_what_a_full_parse_keeps(query: str) -> None:
    allow = (*ALLOW, "utm_*")
    reference = [
        (key, redact_text(value))
        for key, value in parse_qsl(query, keep_blank_values=True)
        if _allowed(key, allow)
    ]
    assert strip_unlisted_query_params(query, allow) == reference
    assert clean_query(query, allow) == urlencode(reference)


url_paths = st.text(st.sampled_from("/ab1@.%#?!:~-_"), max_size=14)


@settings(max_examples=300, deadline=None)
@given(path=url_paths, query=queries, route=st.booleans())
def test_property_scrubbed_url_is_what_urlunsplit_builds_and_path_matches_it(
    path: str, query: str, route: bool
) -> None:
    url = f"https://shop.example/{path}?{query}"
    page = scrub_page_url(url, ALLOW, keep_route_fragment=route)
    assert page is not None
    clean, clean_path = page
    parts = urlsplit(clean)
    assert clean == urlunsplit(parts)
    assert clean_path == parts.path + (f"#{parts.fragment}" if parts.fragment else "")
    assert scrub_url(url, ALLOW, keep_route_fragment=route) == clean


@pytest.mark.parametrize(
    ("referrer", "stored", "host"),
    [
        ("http://203.0.113.91/x", "http://[redacted]/x", "[redacted]"),
        ("http://203.0.113.91:8080/x?q=1", "http://[redacted]/x?q=1", "[redacted]"),
        ("https://[2001:db8:85a3::8a2e:370:7334]/a", "https://[redacted]/a", "[redacted]"),
        ("http://user:pw@198.51.100.7/", "http://[redacted]/", "[redacted]"),
        (
            "https://www.google.com/search?q=x",
            "https://www.google.com/search?q=x",
            "www.google.com",
        ),
        ("https://123.example/", "https://123.example/", "123.example"),
    ],
)
def test_an_ip_address_as_the_referrer_host_is_redacted_everywhere_it_is_stored(
    make_ctx: Any, referrer: str, stored: str, host: str
) -> None:
    ctx = make_ctx(make_site(query_allowlist=("q",)))
    event = run_one(
        ctx,
        {
            "site": "shop",
            "url": "https://shop.example/p",
            "referrer": referrer,
            "type": "click",
            "target": {"tag": "a", "href": referrer},
        },
    )
    assert isinstance(event, Event)
    assert event.row is not None
    assert event.row["referrer"] == stored
    assert event.row["referrer_host"] == host
    assert event.row["target"]["href"] == stored


@pytest.mark.parametrize(
    ("url", "scrubbed"),
    [
        ("https://jane%40example.org.evil.example/x", "https://[redacted]/x"),
        ("https://4155550132.example/", "https://[redacted]/"),
        # '#' ends the host: the rest is a fragment, dropped with the domain in it
        ("https://jane&#64;example.org.evil.example/", "https://jane&/"),
        ("https://www.google.com/search", "https://www.google.com/search"),
        ("https://cdn-2024.example.com/a", "https://cdn-2024.example.com/a"),
    ],
    ids=["escaped-at", "phone-label", "entity", "search", "digits-in-name"],
)
def test_a_host_name_holding_pii_is_redacted(url: str, scrubbed: str) -> None:
    out = scrub_url(url, ("utm_*",), redact_ip_host=True)
    assert out == scrubbed
    assert not contains_pii(out)
