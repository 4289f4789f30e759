"""Tombstones: erased pseudonyms, named by a keyed hash so no file holds the pseudonym.

After an erasure, events that still arrive for that visitor (an open tab, a
retry) must be dropped for a while. The collector and the loader recognise
them by HMAC(site secret, column + key): without the site secret the name
says nothing, and nobody can list whose data was erased.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import os
from pathlib import Path


def tombstone_name(site_secret: bytes, column: str, key: int) -> str:
    message = f"erased\x00{column}\x00{key}".encode()
    return hmac.new(site_secret, message, hashlib.sha256).hexdigest()[:32]


class Tombstones:
    """A directory of ``<name>.<expiry date>`` files, read into a set on refresh."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.names: frozenset[str] = frozenset()

    def refresh(self) -> frozenset[str]:
        try:
            self.names = frozenset(entry.name.split(".", 1)[0] for entry in os.scandir(self.dir))
        except FileNotFoundError:
            self.names = frozenset()
        return self.names

    def add(self, name: str, until: dt.date) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / f"{name}.{until.isoformat()}").touch()
        self.names = self.names | {name}

    def purge_expired(self, today: dt.date) -> int:
        removed = 0
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.dir):
                expiry = entry.name.split(".", 1)[-1]
                with contextlib.suppress(ValueError):
                    if dt.date.fromisoformat(expiry) < today:
                        Path(entry.path).unlink(missing_ok=True)
                        removed += 1
        return removed

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __bool__(self) -> bool:
        return bool(self.names)
