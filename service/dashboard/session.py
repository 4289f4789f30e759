"""Dashboard sessions: a signed, expiring cookie naming the site its holder logged in to.

The cookie holds ``<site>.<expires>.<sid>.<mac>``: no token, nothing about the
person; ``sid`` is a random id of this session, which logout revokes on the
server (service.dashboard.revocations), so a copy of the cookie kept after
logout opens nothing. The MAC is HMAC-SHA256 under a key kept in the keys location
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
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from service.sites import SITE_ID

COOKIE = "clearcount_session"


SID = re.compile(r"[A-Za-z0-9_-]{16,43}")


@dataclass(frozen=True)
class Session:
    site: str
    expires: int  # epoch seconds
    sid: str  # this session's random id, what logout revokes


def new_sid() -> str:
    """A random session id (96 bits, URL-safe)."""
    return secrets.token_urlsafe(12)


def _mac(key: bytes, payload: str, token: str) -> bytes:
    token_digest = hashlib.sha256(token.encode()).digest()
    digest = hmac.new(key, payload.encode() + b"\x00" + token_digest, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=")


def sign(key: bytes, site: str, token: str, now: float, lifetime_s: int, sid: str) -> str:
    """The cookie value for session ``sid`` on ``site`` (opened with ``token``) that ends
    ``lifetime_s`` from ``now``."""
    if not SITE_ID.fullmatch(site):
        raise ValueError("a site id is letters, digits, '_', '.' and '-'")
    if not SID.fullmatch(sid):
        raise ValueError("a session id is 16 to 43 URL-safe characters")
    payload = f"{site}.{int(now) + lifetime_s}.{sid}"
    return f"{payload}.{_mac(key, payload, token).decode()}"


def verify(
    key: bytes, value: str | None, now: float, token_of: Callable[[str], str | None]
) -> Session | None:
    """The session a cookie value proves, or None: forged, altered, malformed, expired,
    or opened with a token the site no longer has (``token_of`` gives a site's token)."""
    if not value or len(value) > 200 or not value.isascii():
        return None
    payload, _, mac = value.rpartition(".")
    rest, _, sid = payload.rpartition(".")
    site, _, expires = rest.rpartition(".")
    if not (SITE_ID.fullmatch(site) and expires.isdigit() and len(expires) <= 12):
        return None
    if not SID.fullmatch(sid):
        return None
    token = token_of(site)
    if not token or not hmac.compare_digest(_mac(key, payload, token), mac.encode()):
        return None
    if int(expires) <= now:
        return None
    return Session(site, int(expires), sid)
