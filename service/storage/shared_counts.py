"""Requests counted per client network, across every worker and collector.

A per-process counter (flask-limiter's ``memory://``) lets each gunicorn worker count on
its own: 30 wrong dashboard tokens gave 16 answers before the first 429. What must hold
across workers and collectors (dashboard logins, erasure requests) is counted instead as
empty objects ``<prefix>/<network>.<ms>.<random>`` in the keys location, which every
worker of every collector shares. ``<network>`` is a keyed hash of the client's network
(its IPv4 address, or its IPv6 /64; service.http.ratelimit), never the address; one
network's count never holds back another's.

``take`` records the use first and then counts, its own included, so requests arriving
at once on several workers cannot all slip under the limit; a use over the limit is
deleted again at once (refused requests do not pile up). Every count deletes whatever
has left the window, whichever network it was, so the folder holds at most the last
``window_s`` of uses; with a limit of 0 nothing is recorded at all.
"""

from __future__ import annotations

import secrets
from typing import Final

from service.storage.objects import Objects

WINDOW_S: Final = 60
LOGIN_ATTEMPTS: Final = "login-attempts"
FORGET_REQUESTS: Final = "forget-requests"
UNLIMITED: Final = ""  # what ``take`` answers when nothing is counted


class SharedCounts:
    def __init__(self, objects: Objects, prefix: str, limit: int, window_s: int = WINDOW_S) -> None:
        self._objects = objects
        self._prefix = prefix
        self._limit = limit
        self._window_s = window_s

    def take(self, network: str, now: float) -> str | None:
        """Count one use by ``network``: the name it was recorded under, for ``give_back``
        (UNLIMITED with a limit of 0), or None, with nothing kept, when over the limit."""
        if self._limit <= 0:
            return UNLIMITED
        name = f"{self._prefix}/{network}.{int(now * 1000)}.{secrets.token_hex(4)}"
        self._objects.put(name, b"")
        if self._recent(network, now) > self._limit:
            self._objects.delete(name)
            return None
        return name

    def give_back(self, name: str) -> None:
        """Forget a use that should not count (a login with the right token)."""
        if name:
            self._objects.delete(name)

    def retry_after_s(self) -> int:
        return self._window_s

    def _recent(self, network: str, now: float) -> int:
        """This network's uses within the window; every older entry is deleted."""
        fresh = 0
        oldest_ms = (now - self._window_s) * 1000
        for name in self._objects.list(self._prefix):
            who, _, rest = name.rsplit("/", 1)[-1].partition(".")
            stamp = rest.partition(".")[0]
            if not stamp.isdigit() or int(stamp) <= oldest_ms:
                self._objects.delete(name)
            elif who == network:
                fresh += 1
        return fresh
