"""Tombstones: erased pseudonyms, named by a keyed hash so no file holds the pseudonym.

After an erasure, events that still arrive for that visitor (an open tab, a
retry) must be dropped for a while, by every collector. They recognise them
by HMAC(site secret, column + key): without the site secret the name says
nothing, and nobody can list whose data was erased. Tombstones live in the
shared keys location, beside the erasure queue.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from service.storage.objects import Objects

FOLDER = "erasure/tombstones"


def tombstone_name(site_secret: bytes, column: str, key: int) -> str:
    message = f"erased\x00{column}\x00{key}".encode()
    return hmac.new(site_secret, message, hashlib.sha256).hexdigest()[:32]


class Tombstones:
    """Objects named ``<name>.<expiry date>``, read into a set on refresh."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self.names: frozenset[str] = frozenset()

    def _entries(self) -> list[str]:
        return [n.rsplit("/", 1)[-1] for n in self.objects.list(FOLDER)]

    def refresh(self) -> frozenset[str]:
        self.names = frozenset(entry.split(".", 1)[0] for entry in self._entries())
        return self.names

    def add(self, name: str, until: dt.date) -> None:
        """Durable before it returns (an fsynced file, or an S3 object)."""
        self.objects.put(f"{FOLDER}/{name}.{until.isoformat()}", b"")
        self.names = self.names | {name}

    def purge_expired(self, today: dt.date) -> int:
        removed = 0
        for entry in self._entries():
            expiry = entry.split(".", 1)[-1]
            try:
                expired = dt.date.fromisoformat(expiry) < today
            except ValueError:
                continue
            if expired:
                self.objects.delete(f"{FOLDER}/{entry}")
                removed += 1
        return removed

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __bool__(self) -> bool:
        return bool(self.names)
