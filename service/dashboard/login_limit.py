"""Wrong dashboard tokens, counted per client network across every worker and collector.

A per-process counter (flask-limiter's ``memory://``) let each gunicorn worker count on
its own: 30 wrong tokens gave 16 answers before the first 429. Each wrong token is
recorded instead as an empty object ``login-failures/<network>/<ms>-<random>`` in the
keys location, which every worker of every collector shares; a login is refused (429)
while its network has ``limit`` of them in the last ``WINDOW_S``. ``<network>`` is a
keyed hash of the client's network (its IPv4 address, or its IPv6 /64), never the
address; a network's failures never hold back another's, so a guesser cannot lock the
owner out from elsewhere. Entries older than the window are deleted as they are counted.
"""

from __future__ import annotations

import secrets
from typing import Final

from service.storage.objects import Objects

PREFIX: Final = "login-failures"
WINDOW_S: Final = 60


class LoginFailures:
    def __init__(self, objects: Objects, limit: int, window_s: int = WINDOW_S) -> None:
        self._objects = objects
        self._limit = limit
        self._window_s = window_s

    def limited(self, network: str, now: float) -> bool:
        """Whether ``network`` has used up its wrong tokens for now."""
        return self._limit > 0 and self._recent(network, now) >= self._limit

    def record(self, network: str, now: float) -> None:
        """One more wrong token from ``network``."""
        self._objects.put(f"{PREFIX}/{network}/{int(now * 1000)}-{secrets.token_hex(4)}", b"")

    def retry_after_s(self) -> int:
        return self._window_s

    def _recent(self, network: str, now: float) -> int:
        fresh = 0
        for name in self._objects.list(f"{PREFIX}/{network}"):
            stamp = name.rsplit("/", 1)[-1].partition("-")[0]
            if stamp.isdigit() and int(stamp) > (now - self._window_s) * 1000:
                fresh += 1
            else:
                self._objects.delete(name)
        return fresh
