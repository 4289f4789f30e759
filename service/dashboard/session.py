"""Dashboard sessions: a signed, expiring cookie naming the site its holder logged in to.

The cookie holds ``<site>.<expires>.<mac>``: no token, nothing about the
person. The MAC is HMAC-SHA256 under a key kept in the keys location
(``dashboard-session.secret``), so every worker and every collector sharing
the keys accepts the sessions of the others, and deleting the key logs
everyone out. The MAC also covers a digest of the site's ``stats_token`` at
login, so changing a leaked token ends the sessions it opened. A pure module:
the caller passes the key, the token and the time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from service.sites import SITE_ID

COOKIE = "clearcount_session"


@dataclass(frozen=True)
class Session:
    site: str
    expires: int  # epoch seconds


def _mac(key: bytes, payload: str, token: str) -> bytes:
    token_digest = hashlib.sha256(token.encode()).digest()
    digest = hmac.new(key, payload.encode() + b"\x00" + token_digest, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=")


def sign(key: bytes, site: str, token: str, now: float, lifetime_s: int) -> str:
    """The cookie value for a session on ``site`` (opened with ``token``) that ends
    ``lifetime_s`` from ``now``."""
    if not SITE_ID.fullmatch(site):
        raise ValueError("a site id is letters, digits, '_', '.' and '-'")
    payload = f"{site}.{int(now) + lifetime_s}"
    return f"{payload}.{_mac(key, payload, token).decode()}"


def verify(
    key: bytes, value: str | None, now: float, token_of: Callable[[str], str | None]
) -> Session | None:
    """The session a cookie value proves, or None: forged, altered, malformed, expired,
    or opened with a token the site no longer has (``token_of`` gives a site's token)."""
    if not value or len(value) > 200 or not value.isascii():
        return None
    payload, _, mac = value.rpartition(".")
    site, _, expires = payload.rpartition(".")
    if not (SITE_ID.fullmatch(site) and expires.isdigit() and len(expires) <= 12):
        return None
    token = token_of(site)
    if not token or not hmac.compare_digest(_mac(key, payload, token), mac.encode()):
        return None
    if int(expires) <= now:
        return None
    return Session(site, int(expires))
