"""Pseudonyms: keyed hashes stored as signed 64-bit integers.

Granted consent: ``hmac64(site secret, visitor_id)`` and ``hmac64(site secret,
user_id)``, stable for as long as the site secret lives. Implied consent:
``daily_visitor_key``, which cannot outlive its salt.

The first 8 bytes of an HMAC-SHA256 are kept (big-endian, signed) because
DuckDB counts distinct BIGINTs far faster than 64-character strings, and
collisions stay negligible below billions of visitors.
"""

from __future__ import annotations

import hmac


def hmac64(key: bytes, message: str) -> int:
    """HMAC-SHA256(key, message) truncated to a signed 64-bit integer."""
    digest = hmac.digest(key, message.encode("utf-8"), "sha256")
    return int.from_bytes(digest[:8], "big", signed=True)


def daily_visitor_key(daily_salt: bytes, site: str, ip_identity: str, user_agent: str) -> int:
    """Implied consent: links one visitor's events within a day and never across days.

    The salt is random and destroyed after 48 h, so once it is gone nobody, us
    included, can recompute the key from an IP and User-Agent.
    """
    return hmac64(daily_salt, f"{site}\x00{ip_identity}\x00{user_agent}")
