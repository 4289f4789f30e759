"""Every PII rule and every deliberately kept look-alike, as tables.

The first tables hold ``redact_text`` (the rules); the last sends each case
through the whole ingest pipeline in the field it arrived in and searches
the stored row, as the accuracy benchmark does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

import orjson
import pytest

from service.ingest.event import Event
from service.privacy.pii import REDACTED, decoded, redact_text
from tests.conftest import client, make_site, run_one


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        # e-mail, in every encoding and script
        ("jane%40example.org", REDACTED),
        ("jane%2540example.org", REDACTED),
        ("jane%252540example.org", REDACTED),
        ("jané@exämple.org", REDACTED),
        ("jan%C3%A9%40ex%C3%A4mple.org", REDACTED),
        ("JANE.DOE@EXAMPLE.ORG", REDACTED),
        ("jane\uff20example.org", REDACTED),
        ("j.o'hara+news@mail.example.co.uk", REDACTED),
        # IBANs with and without spaces (python-stdnum's checksum)
        ("DE50294028383047805221", REDACTED),
        ("pay to DE89 3704 0044 0532 0130 00 today", f"pay to {REDACTED} today"),
        ("GB29NWBK60161331926819", REDACTED),
        # phone numbers: extensions, short international ones (libphonenumber), form-encoded
        ("+1-674-447-2470x637", REDACTED),
        ("+1 (415) 555-0132 ext. 12", REDACTED),
        ("call +49 30 901820", f"call {REDACTED}"),
        ("+44+20+7946+0958", REDACTED),
        ("user_4155550132", f"user_{REDACTED}"),
        ("0049-30-1234567", REDACTED),  # starts like an ISO date, is not one
        ("call 2023-13-45 6789", f"call {REDACTED}"),
        ("a4155550132b", f"a{REDACTED}b"),
        # cards and national ids, with any separators
        ("4111 1111 1111 1111", REDACTED),
        ("5500-0000-0000-0004", REDACTED),
        ("ssn 078-05-1120", f"ssn {REDACTED}"),
        # IP addresses, IPv4-mapped IPv6 whole (not three octets left behind)
        ("::ffff:203.0.113.91", REDACTED),
        ("from ::ffff:203.0.113.91 ok", f"from {REDACTED} ok"),
        ("2001:db8:85a3::8a2e:370:7334", REDACTED),
        ("2001%3Adb8%3A%3A1", REDACTED),
        ("203.0.113.91", REDACTED),
        # disguises: invisible characters, HTML references, %u escapes, a quoted local part
        ("jane\u200b@example.org", REDACTED),
        ("ja\u2060ne@example.org", REDACTED),
        ("jane@exam\u00adple.org", REDACTED),
        ("jane&#64;example.org", REDACTED),
        ("jane&#x40;example.org", REDACTED),
        ("jane&commat;example.org", REDACTED),
        ("jane%u0040example.org", REDACTED),
        ('"jane doe"@example.org', REDACTED),
        ("mail jane%40example.org.evil.example", f"mail {REDACTED}"),
        # base64 and base64url of an e-mail or a phone number
        ("amFuZUBleGFtcGxlLm9yZw==", REDACTED),
        ("id amFuZS5kb2VAZXhhbXBsZS5vcmc end", f"id {REDACTED} end"),
        ("KzEgNDE1IDU1NSAwMTMy", REDACTED),
        # phone numbers with other separators, letters between the groups
        ("415_555_0132", REDACTED),
        ("415,555,0132", REDACTED),
        ("415*555*0132", REDACTED),
        ("415--555--0132", REDACTED),
        ("call 415a555b0132", f"call {REDACTED}"),
        # IPv4 in inet_aton's other forms
        ("0x7f.0.0.1", REDACTED),
        ("0177.0.0.1", REDACTED),
        ("0xcb007105", REDACTED),
        ("203_0_113_7", REDACTED),
        ("0313.0.0161.0133", REDACTED),  # octal parts, shaped like a browser build
    ],
)
def test_pii_is_redacted_in_every_form(text: str, stored: str) -> None:
    assert redact_text(text) == stored


@pytest.mark.parametrize(
    "text",
    [
        "137.0.6260.42",
        "Chrome/120.0.6099.199",
        "2023-06-15 00:59",
        "2023-06-15 \u2013 2023-06-30",
        "2023-06-15T10:30:00",
        "15.06.2023",
        "06/15/2023 10:30",
        "10:30\u201311:45",
        "logo@2x.png",
        "icon@3x.webp",
        "Home :: Shop",
        "std::vector",
        "Foo::Bar",
        "v1.2.3",
        "v10.4.12.3",
        "SKU-2024-0001",
        "2,499.00 EUR",
        "1,234,567 views",
        "order 12345678",
        "ISO 9001:2015",
        "550e8400-e29b-41d4-a716-446655440000",
        "/assets/app.80462068f.js",
        "+5 points",
        "50% off",
        "100%25 cotton",
        "Add to cart",
        "/books/9780306406157",  # an ISBN-13 with its check digit: a book, not a phone
        "/books/978-0-306-40615-7",
        "sizes 38, 39, 40, 41, 42",  # a list, not a number
        "chapter 12.4",  # inet_aton would read 12.0.0.4
        "/assets/app.5d41402abc4b2a76b9719d911017c592.js",  # a hash's digits and letters
        "running-shoes-for-men",  # a slug is a base64url run decoding to nothing
        "AT&T deals",
        "0x1F colour",
    ],
)
def test_look_alikes_are_kept_as_sent(text: str) -> None:
    assert redact_text(text) is text


def test_decoding_stops_at_a_fixed_point() -> None:
    assert decoded("a%252540b") == "a@b"
    assert decoded("100%") == "100%"
    assert decoded("%zz") == "%zz"


def _stored(payload: dict[str, Any], make_ctx: Any) -> str:
    site = make_site(query_allowlist=("q", "utm_campaign"))
    outcome = run_one(make_ctx(site), {"site": "shop", **payload}, client())
    assert isinstance(outcome, Event)
    assert outcome.row is not None
    # the collector's own numbers (ids, pseudonyms, times) may hold any digits
    own = ("event_id", "visitor_key", "user_key", "received_at")
    row = {k: v for k, v in outcome.row.items() if k not in own}
    return unquote(unquote(orjson.dumps(row).decode()))


PAGE = "https://shop.example"


@pytest.mark.parametrize(
    ("payload", "secret"),
    [
        ({"url": f"{PAGE}/u/DE50294028383047805221"}, "DE50294028383047805221"),
        ({"url": f"{PAGE}/?q=jane%2540example.org"}, "jane@example.org"),
        (
            {"url": f"{PAGE}/?utm_campaign={quote('x' * 190 + ' jane.doe@example.org')}"},
            "jane.doe@example",
        ),
        ({"url": f"{PAGE}/", "referrer": "http://203.0.113.91/x"}, "203.0.113.91"),
        ({"url": f"{PAGE}/", "referrer": "https://ref.example/?q=%2B1-674-447-2470x637"}, "674"),
        ({"url": f"{PAGE}/", "props": {"note": "jane%40example.org"}}, "jane@example.org"),
        ({"url": f"{PAGE}/", "props": {"jane%2540example.org": "1"}}, "jane@example.org"),
        ({"url": f"{PAGE}/", "props": {"ssn": 78051120}}, "78051120"),
        ({"url": f"{PAGE}/", "props": {"card": 4111111111111111}}, "4111111111111111"),
        ({"url": f"{PAGE}/", "props": {"card": 4.111111111111111e15}}, "4111111111111111"),
        (
            {
                "url": f"{PAGE}/",
                "type": "click",
                "target": {"tag": "a", "text": "mail jane%40example.org", "id": "u-078-05-1120"},
            },
            "jane@example.org",
        ),
        (
            {
                "url": f"{PAGE}/",
                "type": "click",
                "target": {
                    "tag": "a",
                    "href": "http://[2001:db8::7]/x",
                    "classes": "x ::ffff:203.0.113.91",
                },
            },
            "2001:db8::7",
        ),
        (
            {"url": f"{PAGE}/", "type": "custom", "name": "signup jane%40example.org"},
            "jane@example",
        ),
    ],
)
def test_pii_never_reaches_the_stored_row(
    payload: dict[str, Any], secret: str, make_ctx: Any
) -> None:
    stored = _stored(payload, make_ctx)
    assert secret not in stored
    assert REDACTED in stored
    assert "203.0.113.91" not in stored
    assert "1120" not in stored
