"""Liveness, readiness and metrics."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Blueprint, Response, jsonify

from pipelines.rights.erasure import backlog
from service import metrics
from service.http.state import state
from service.ingest.spool import backlog_bytes, can_write, free_bytes, oldest_ready_age_s
from service.storage.objects import Objects

bp = Blueprint("health", __name__)
log = logging.getLogger("clearcount.http")


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the spool takes a write now, keeps its free-space floor, and the loader
    keeps up: a load balancer sends nothing to a node that would refuse it all."""
    settings = state().ctx.settings
    spool_dir = settings.spool_dir
    lag = oldest_ready_age_s(spool_dir)
    backlog = backlog_bytes(spool_dir)
    free = free_bytes(spool_dir)
    checks = {
        "spool_writable": can_write(spool_dir),
        "disk_space_ok": free >= settings.min_free_bytes,
        "spool_backlog_ok": backlog <= settings.spool_max_bytes,
        "loader_lag_ok": lag <= settings.max_loader_lag_s,
    }
    ready = all(checks.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": checks,
        "loader_lag_s": round(lag, 3),
        "spool_backlog_bytes": backlog,
        "free_bytes": free,
        **erasure_backlog(state().ctx.keys.objects, state().ctx.clock()),
    }
    return jsonify(body), 200 if ready else 503


def erasure_backlog(objects: Objects, now: dt.datetime) -> dict[str, Any]:
    """Erasures accepted and not yet completed, and the oldest one's age: reported, not a
    readiness check (ingest does not wait on them); null when the shared keys location
    cannot be read now."""
    try:
        pending, oldest_s = backlog(objects, now)
    except Exception as exc:  # OSError on disk, botocore's errors on S3
        log.warning("erasure backlog unknown", extra={"error": type(exc).__name__})
        return {"erasures_pending": None, "oldest_erasure_age_s": None}
    return {"erasures_pending": pending, "oldest_erasure_age_s": oldest_s}


@bp.get("/metrics")
def metrics_text() -> Response:
    payload, content_type = metrics.render()
    return Response(payload, content_type=content_type)
