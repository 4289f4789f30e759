"""Dashboard sessions: a signed, expiring cookie naming the site its holder logged in to.

The cookie holds ``<site>.<expires>.<mac>``: no token, nothing about the
person. The MAC is HMAC-SHA256 under a key kept in the keys location
(``dashboard-session.secret``), so every worker and every collector sharing
the keys accepts the sessions of the others, and deleting the key logs
everyone out. A pure module: the caller passes the key and the time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

COOKIE = "clearcount_session"
SITE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class Session:
    site: str
    expires: int  # epoch seconds


def _mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(key: bytes, site: str, now: float, lifetime_s: int) -> str:
    """The cookie value for a session on ``site`` that ends ``lifetime_s`` from ``now``."""
    if not SITE_ID.fullmatch(site):
        raise ValueError("a site id is letters, digits, '_', '.' and '-'")
    payload = f"{site}.{int(now) + lifetime_s}"
    return f"{payload}.{_mac(key, payload)}"


def verify(key: bytes, value: str | None, now: float) -> Session | None:
    """The session a cookie value proves, or None: forged, altered, malformed or expired."""
    if not value or len(value) > 200:
        return None
    payload, _, mac = value.rpartition(".")
    site, _, expires = payload.rpartition(".")
    if not (SITE_ID.fullmatch(site) and expires.isdigit() and len(expires) <= 12):
        return None
    if not hmac.compare_digest(_mac(key, payload), mac):
        return None
    if int(expires) <= now:
        return None
    return Session(site, int(expires))
