"""Dashboard sessions ended by logout, seen by every worker and collector sharing the keys.

A session cookie is signed, so until it expires it proves itself anywhere: logout has to
be remembered on the server. ``POST /dashboard/logout`` writes
``dashboard-sessions/<expires>.<sid>`` (empty) to the keys location, which every worker
of every collector shares, and each check of a cookie asks whether its session id is
there. On a local keys directory the list is read at every check (a directory scan: a
replayed cookie is refused by every worker the moment logout answers); on object storage
a process keeps it in memory and reads it again at most once every ``REFRESH_S``, so a
logout holds at once on the collector that took it and within that second on the others.
An entry whose session would have expired anyway is deleted as the list is read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from service.storage.objects import Objects

log = logging.getLogger("clearcount.http")

PREFIX: Final = "dashboard-sessions"
REFRESH_S: Final = 1.0


class Revocations:
    """The ids of sessions logged out before their expiry; thread-safe."""

    def __init__(
        self,
        objects: Objects,
        refresh_s: float = REFRESH_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._objects = objects
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        self._revoked: frozenset[str] = frozenset()
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def revoke(self, sid: str, expires: int) -> None:
        """Durably revoke session ``sid``, which would otherwise last until ``expires``."""
        with self._lock:  # written before a refresh lists, so it cannot be read without it
            self._objects.put(f"{PREFIX}/{expires}.{sid}", b"")
            self._revoked = self._revoked | {sid}

    def is_revoked(self, sid: str, now: float) -> bool:
        """Whether ``sid`` was logged out, by this process or any other sharing the keys."""
        if sid in self._revoked:
            return True
        if self._monotonic() - self._read_at >= self._refresh_s:
            self._refresh(now)
        return sid in self._revoked

    def _refresh(self, now: float) -> None:
        """Read the list again; on a storage error keep the last one and retry next time."""
        with self._lock:
            if self._monotonic() - self._read_at < self._refresh_s:
                return  # another thread just read it
            self._read_at = self._monotonic()
            try:
                self._revoked = frozenset(self._read(now))
            except Exception as exc:  # OSError on disk, botocore's errors on S3
                log.warning("session revocations not read", extra={"error": type(exc).__name__})

    def _read(self, now: float) -> set[str]:
        revoked = set()
        for name in self._objects.list(PREFIX):
            expires, _, sid = name.rsplit("/", 1)[-1].partition(".")
            if expires.isdigit() and int(expires) <= now:
                self._objects.delete(name)  # expired anyway: its cookie is refused as such
            elif sid:
                revoked.add(sid)
        return revoked
