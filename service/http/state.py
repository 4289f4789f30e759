"""The per-process objects the HTTP layer shares: pipeline context and spool writer."""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field

from flask import current_app

from service import metrics
from service.dashboard.revocations import REFRESH_S, Revocations
from service.http.ratelimit import network_key
from service.ingest.event import Context
from service.ingest.spool import SpoolWriter, backlog_bytes, free_bytes
from service.storage.objects import LocalObjects
from service.storage.shared_counts import SharedCounts

log = logging.getLogger("clearcount.http")


@dataclass
class AppState:
    ctx: Context
    spool: SpoolWriter
    backlogged: bool = False
    low_on_space: bool = False  # the data directory's free space is under min_free_bytes
    _revocations: Revocations | None = None
    _counts: dict[str, SharedCounts] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start_housekeeping(self, interval_s: float = 0.5) -> None:
        """Rotate aged segments and re-measure the backlog off the request path."""
        thread = threading.Thread(target=self._housekeep, args=(interval_s,), daemon=True)
        thread.name = "clearcount-housekeeping"
        thread.start()

    def _housekeep(self, interval_s: float) -> None:
        settings = self.ctx.settings
        while not self._stop.wait(interval_s):
            try:
                self.spool.rotate_if_stale()
                metrics.TALLY.flush()
                self.backlogged = backlog_bytes(settings.spool_dir) > settings.spool_max_bytes
                self.low_on_space = free_bytes(settings.spool_dir) < settings.min_free_bytes
            except OSError as exc:
                log.warning("housekeeping failed", extra={"error": type(exc).__name__})
            self._refresh_tombstones()

    def _refresh_tombstones(self) -> None:
        """Erasures requested through other workers or other collectors (the shared keys
        location may be object storage: a failure is logged and retried next round)."""
        if self.ctx.tombstones is None:
            return
        try:
            self.ctx.tombstones.refresh()
        except Exception as exc:  # OSError on disk, botocore's errors on S3
            log.warning("tombstones not refreshed", extra={"error": type(exc).__name__})

    def shared_counts(self, prefix: str, limit: int) -> SharedCounts:
        """The per-network counter kept under ``prefix`` in the keys location (logins,
        erasure requests), made on first use."""
        counts = self._counts.get(prefix)
        if counts is None:
            counts = self._counts[prefix] = SharedCounts(self.ctx.keys.objects, prefix, limit)
        return counts

    def revocations(self) -> Revocations:
        """The dashboard sessions logged out, shared through the keys location: a local
        directory is read at every check, object storage once a second (REFRESH_S)."""
        if self._revocations is None:
            objects = self.ctx.keys.objects
            refresh_s = 0.0 if isinstance(objects, LocalObjects) else REFRESH_S
            self._revocations = Revocations(objects, refresh_s)
        return self._revocations

    def client_network(self, address: str) -> str:
        """The keyed hash a client's network is counted under (service.http.ratelimit)."""
        secret, prefix = self.ctx.keys.rate_limit_key(), self.ctx.settings.rate_limit_ipv6_prefix
        return network_key(secret, address, prefix)

    def refusal(self) -> str | None:
        """Why ingest must answer 503 before trying to append, or None."""
        if self.backlogged:
            return "the spool backlog is over its limit; the loader is behind"
        if self.low_on_space:
            return "the data directory is below its free-space floor"
        return None

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.spool.close()
        metrics.TALLY.flush()


def state() -> AppState:
    app_state: AppState = current_app.extensions["clearcount"]
    return app_state
