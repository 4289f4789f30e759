"""Requests counted per client network, across every worker and collector.

A per-process counter (flask-limiter's ``memory://``) lets each gunicorn worker count on
its own: 30 wrong dashboard tokens gave 16 answers before the first 429. What must hold
across workers and collectors (wrong dashboard tokens, erasure requests) is counted
instead as empty objects ``<prefix>/<network>/<ms>-<random>`` in the keys location,
which every worker of every collector shares; a network is refused while it has
``limit`` of them in the last ``window_s``. ``<network>`` is a keyed hash of the
client's network (its IPv4 address, or its IPv6 /64; service.http.ratelimit), never the
address; one network's count never holds back another's. Entries older than the window
are deleted as they are counted.
"""

from __future__ import annotations

import secrets
from typing import Final

from service.storage.objects import Objects

WINDOW_S: Final = 60
LOGIN_FAILURES: Final = "login-failures"
FORGET_REQUESTS: Final = "forget-requests"


class SharedCounts:
    def __init__(self, objects: Objects, prefix: str, limit: int, window_s: int = WINDOW_S) -> None:
        self._objects = objects
        self._prefix = prefix
        self._limit = limit
        self._window_s = window_s

    def limited(self, network: str, now: float) -> bool:
        """Whether ``network`` has used up its count for now (never, with a limit of 0)."""
        return self._limit > 0 and self._recent(network, now) >= self._limit

    def record(self, network: str, now: float) -> None:
        """One more from ``network``."""
        name = f"{self._prefix}/{network}/{int(now * 1000)}-{secrets.token_hex(4)}"
        self._objects.put(name, b"")

    def retry_after_s(self) -> int:
        return self._window_s

    def _recent(self, network: str, now: float) -> int:
        fresh = 0
        for name in self._objects.list(f"{self._prefix}/{network}"):
            stamp = name.rsplit("/", 1)[-1].partition("-")[0]
            if stamp.isdigit() and int(stamp) > (now - self._window_s) * 1000:
                fresh += 1
            else:
                self._objects.delete(name)
        return fresh
