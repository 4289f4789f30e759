"""Key material: one secret per site and one random salt per UTC day.

Keys live at ``--keys`` / ``CLEARCOUNT_KEYS``: a directory (files of mode
0600) or an ``s3://`` prefix shared by every collector of a deployment. Each
key is created on first use by whichever process needs it first, and
creation is conditional (an atomic ``link`` on disk, ``If-None-Match`` on S3),
so every worker of every collector ends up with the same bytes: one visitor
has one pseudonym whichever collector saw them. Salts older than 48 hours
are destroyed on every day change, which is what makes implied-consent keys
of different days unlinkable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import threading
from pathlib import Path

from service.storage.location import Location
from service.storage.objects import Objects, create_or_read, objects_at

KEY_BYTES = 32
_SALT_NAME = re.compile(r"^salt-(\d{4}-\d{2}-\d{2})\.bin$")


def fingerprint(key: bytes) -> str:
    """A short, non-reversible name for a key, the only form logs may show."""
    return hashlib.sha256(key).hexdigest()[:12]


def keys_objects(where: Path | Location | Objects) -> Objects:
    if isinstance(where, Path):
        return objects_at(Location(path=where.resolve()))
    if isinstance(where, Location):
        return objects_at(where)
    return where


def keys_location(data_dir: Path) -> Location:
    """``--keys`` / ``CLEARCOUNT_KEYS``, or ``<data-dir>/keys``."""
    from service.settings import Settings

    return Location.parse(Settings.from_env().keys, data_dir / "keys")


class KeyStore:
    """Site secrets and daily salts, cached in memory, shared in the keys location."""

    def __init__(self, where: Path | Location | Objects) -> None:
        self.objects = keys_objects(where)
        self._lock = threading.Lock()
        self._secrets: dict[str, bytes] = {}
        self._salt_day: dt.date | None = None
        self._salt: bytes = b""

    def site_secret(self, site: str) -> bytes:
        """The site's HMAC key for stable pseudonyms (granted consent)."""
        secret = self._secrets.get(site)  # the hot path: nothing built per event
        return secret if secret is not None else self._key(f"site-{site}.secret", site)

    def rate_limit_key(self) -> bytes:
        """Keys the rate limiter's buckets, so not even memory holds a plain IP hash."""
        return self._key("ratelimit.secret", "\x00ratelimit")

    def dashboard_session_key(self) -> bytes:
        """Signs dashboard session cookies; shared, so any collector accepts any session."""
        return self._key("dashboard-session.secret", "\x00dashboard")

    def _key(self, name: str, cache_key: str) -> bytes:
        secret = self._secrets.get(cache_key)
        if secret is None:
            with self._lock:
                secret = create_or_read(self.objects, name, secrets.token_bytes(KEY_BYTES))
                self._secrets[cache_key] = secret
        return secret

    def daily_salt(self, today: dt.date) -> bytes:
        """The salt of ``today`` (UTC); switching days destroys expired salts."""
        if today == self._salt_day:
            return self._salt
        with self._lock:
            if today != self._salt_day:
                self._salt = create_or_read(
                    self.objects, f"salt-{today.isoformat()}.bin", secrets.token_bytes(KEY_BYTES)
                )
                self._salt_day = today
                self.destroy_expired_salts(today)
            return self._salt

    def destroy_expired_salts(self, today: dt.date) -> list[dt.date]:
        """Delete salts of days before yesterday: a salt lives 48 hours at most."""
        oldest_kept = today - dt.timedelta(days=1)
        destroyed = []
        for name in self.objects.list(""):
            match = _SALT_NAME.match(name)
            if match and dt.date.fromisoformat(match.group(1)) < oldest_kept:
                self.objects.delete(name)
                destroyed.append(dt.date.fromisoformat(match.group(1)))
        return sorted(destroyed)

    def salt_days(self) -> list[dt.date]:
        return sorted(
            dt.date.fromisoformat(m.group(1))
            for name in self.objects.list("")
            if (m := _SALT_NAME.match(name))
        )
