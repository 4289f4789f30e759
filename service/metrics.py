"""Prometheus counters, correct across gunicorn workers.

Under ``clearcount serve`` PROMETHEUS_MULTIPROC_DIR is set before this module
is imported, so every worker and the loader write their own files and
``/metrics`` sums them. Labels are reasons, tables, endpoints and configured
site ids: never anything a client sent.
"""

from __future__ import annotations

import os

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


def render() -> tuple[bytes, str]:
    """The exposition text: merged over every process when running multi-process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
