"""Key material: one secret per site and one random salt per UTC day.

Files live under ``keys/`` with mode 0600 and are created on first use by
whichever process needs them first; an atomic ``link`` decides the winner, so
every gunicorn worker ends up with the same bytes. Salts older than 48 hours
are destroyed on every access, which is what makes implied-consent keys of
different days unlinkable.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import secrets
import threading
from pathlib import Path

from service.ingest.spool import fsync_dir

KEY_BYTES = 32
_SALT_NAME = re.compile(r"^salt-(\d{4}-\d{2}-\d{2})\.bin$")


def fingerprint(key: bytes) -> str:
    """A short, non-reversible name for a key, the only form logs may show."""
    return hashlib.sha256(key).hexdigest()[:12]


def _read_or_create(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process won the race; theirs is kept
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    fsync_dir(path.parent)
    return path.read_bytes()


class KeyStore:
    """Site secrets and daily salts, cached in memory, shared on disk."""

    def __init__(self, keys_dir: Path) -> None:
        self.dir = keys_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self._lock = threading.Lock()
        self._secrets: dict[str, bytes] = {}
        self._salt_day: dt.date | None = None
        self._salt: bytes = b""

    def site_secret(self, site: str) -> bytes:
        """The site's HMAC key for stable pseudonyms (granted consent)."""
        secret = self._secrets.get(site)  # the hot path: no Path built per event
        return (
            secret
            if secret is not None
            else self.site_secret_at(self.dir / f"site-{site}.secret", site)
        )

    def rate_limit_key(self) -> bytes:
        """Keys the rate limiter's buckets, so not even memory holds a plain IP hash."""
        return self.site_secret_at(self.dir / "ratelimit.secret", "\x00ratelimit")

    def site_secret_at(self, path: Path, cache_key: str) -> bytes:
        secret = self._secrets.get(cache_key)
        if secret is None:
            with self._lock:
                secret = _read_or_create(path)
                self._secrets[cache_key] = secret
        return secret

    def daily_salt(self, today: dt.date) -> bytes:
        """The salt of ``today`` (UTC); switching days destroys expired salts."""
        if today == self._salt_day:
            return self._salt
        with self._lock:
            if today != self._salt_day:
                self._salt = _read_or_create(self.dir / f"salt-{today.isoformat()}.bin")
                self._salt_day = today
                self.destroy_expired_salts(today)
            return self._salt

    def destroy_expired_salts(self, today: dt.date) -> list[dt.date]:
        """Delete salts of days before yesterday: a salt lives 48 hours at most."""
        oldest_kept = today - dt.timedelta(days=1)
        destroyed = []
        for path in self.dir.iterdir():
            match = _SALT_NAME.match(path.name)
            if match and dt.date.fromisoformat(match.group(1)) < oldest_kept:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                destroyed.append(dt.date.fromisoformat(match.group(1)))
        if destroyed:
            fsync_dir(self.dir)
        return sorted(destroyed)

    def salt_days(self) -> list[dt.date]:
        return sorted(
            dt.date.fromisoformat(m.group(1))
            for p in self.dir.iterdir()
            if (m := _SALT_NAME.match(p.name))
        )
