"""Dashboard session cookies: what verifies, and everything that must not."""

from __future__ import annotations

import pytest

from service.dashboard.session import sign, verify

KEY = b"k" * 32
NOW = 1_800_000_000.0
TOKENS = {"shop": "shop-token", "blog": "blog-token"}
SID = "AAAAAAAAAAAAAAAA"


def token_of(site: str) -> str | None:
    return TOKENS.get(site)


def test_a_signed_session_verifies_until_it_expires() -> None:
    value = sign(KEY, "shop", "shop-token", NOW, 3600, SID)
    session = verify(KEY, value, NOW + 3599, token_of)
    assert session is not None
    assert session.site == "shop"
    assert session.expires == int(NOW) + 3600
    assert session.sid == SID
    assert verify(KEY, value, NOW + 3600, token_of) is None


def test_a_changed_token_ends_the_sessions_it_opened() -> None:
    value = sign(KEY, "shop", "shop-token", NOW, 3600, SID)
    assert verify(KEY, value, NOW, lambda site: "a new token") is None
    assert verify(KEY, value, NOW, lambda site: None) is None


def _tamper_site(value: str) -> str:
    return value.replace("shop.", "blog.", 1)


def _tamper_expiry(value: str) -> str:
    site, expires, sid, mac = value.split(".")
    return f"{site}.{int(expires) + 86400}.{sid}.{mac}"


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("another key", lambda v: v),
        ("another site", _tamper_site),
        ("a later expiry", _tamper_expiry),
        ("no signature", lambda v: v.rsplit(".", 1)[0] + "."),
        ("garbage", lambda v: "not a cookie"),
        ("empty", lambda v: ""),
        ("oversized", lambda v: v + "A" * 300),
        ("site with a quote", lambda v: 'sh"op.1.' + SID + "." + v.rsplit(".", 1)[1]),
        ("another session id", lambda v: v.replace(SID, "B" * 16)),
        ("no session id", lambda v: v.replace("." + SID, "")),
        ("non-ASCII signature", lambda v: v.rsplit(".", 1)[0] + ".\u00e9"),
    ],
)
def test_altered_or_foreign_cookies_do_not_verify(case: str, make: object) -> None:
    value = make(sign(KEY, "shop", "shop-token", NOW, 3600, SID))  # type: ignore[operator]
    key = b"x" * 32 if case == "another key" else KEY
    assert verify(key, value, NOW, token_of) is None


def test_a_site_id_outside_the_allowed_characters_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="site id"):
        sign(KEY, "a;b", "t", NOW, 60, SID)


def test_a_session_id_outside_its_alphabet_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="session id"):
        sign(KEY, "shop", "t", NOW, 60, "a.b" * 8)
