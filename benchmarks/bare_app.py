"""The baselines, under the collector's gunicorn settings.

``app``: a bare Flask endpoint answering 204, the issue's yardstick.

``durable_app``: the same endpoint, except that it makes a record the size of
the body durable through clearcount's spool (group commit, ``fdatasync``)
before it answers 202. It does nothing else a collector does, so it is the
floor any endpoint that keeps "a 202 means durable" stands on here; the
record is placeholder bytes, not the body, so no payload reaches its disk.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from flask import Flask, request

from service.ingest.spool import SpoolWriter

app = Flask(__name__)


@app.post("/api/event")
def event() -> tuple[str, int]:
    return "", 204


durable_app = Flask(__name__)


@app.get("/healthz")
@durable_app.get("/healthz")
def healthz() -> tuple[str, int]:
    """Readiness for the benchmark harness, as the collector's own /healthz."""
    return "ok", 200


_writer: list[SpoolWriter] = []
_writer_lock = threading.Lock()


def _worker_spool() -> SpoolWriter:
    """The worker's writer, made at its first request (after the fork), like the collector's."""
    with _writer_lock:
        if not _writer:
            data_dir = Path(os.environ.get("CLEARCOUNT_DATA_DIR", "data"))
            _writer.append(SpoolWriter(data_dir / "spool"))
        return _writer[0]


@durable_app.post("/api/event")
def durable_event() -> tuple[str, int]:
    body = request.get_data(cache=False)
    _worker_spool().append([b"x" * len(body) + b"\n"])
    return "", 202
