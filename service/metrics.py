"""Prometheus counters, correct across gunicorn workers.

Under ``clearcount serve`` PROMETHEUS_MULTIPROC_DIR is set before this module
is imported, so every worker and the loader write their own files and
``/metrics`` sums them. Labels are reasons, tables, endpoints and configured
site ids: never anything a client sent.
"""

from __future__ import annotations

import collections
import os
import threading

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
)

EVENTS_ACCEPTED = Counter(
    "clearcount_events_accepted", "Events acknowledged with 202, per site", ["site"]
)
EVENTS_DROPPED = Counter(
    "clearcount_events_dropped",
    "Events that did not become rows of events, per reason (quarantined ones included)",
    ["reason"],
)
RECORDS_SPOOLED = Counter(
    "clearcount_records_spooled", "Records made durable in the spool, per table", ["table"]
)
ROWS_LOADED = Counter(
    "clearcount_rows_loaded", "Rows the loader wrote into the lake, per table", ["table"]
)
HTTP_REQUESTS = Counter(
    "clearcount_http_requests",
    "HTTP requests answered, per endpoint and status",
    ["endpoint", "status"],
)


class Tally:
    """Per-process counts added to the Prometheus counters in one go.

    In multi-process mode every increment takes a lock and writes a shared
    file; on the ingest path that cost per request was measurable, so
    requests add here and the housekeeping thread flushes twice a second.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter[tuple[Counter, str]] = collections.Counter()

    def add(self, metric: Counter, label: str, n: int = 1) -> None:
        with self._lock:
            self._counts[(metric, label)] += n

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, collections.Counter()
        for (metric, label), n in counts.items():
            metric.labels(label).inc(n)


TALLY = Tally()


def render() -> tuple[bytes, str]:
    """The exposition text: merged over every process when running multi-process."""
    TALLY.flush()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
