"""Liveness, readiness and metrics."""

from __future__ import annotations

import os

from flask import Blueprint, Response, jsonify

from service import metrics
from service.http.state import state
from service.ingest.spool import backlog_bytes, oldest_ready_age_s

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the spool takes writes and the loader keeps up."""
    settings = state().ctx.settings
    spool_dir = settings.spool_dir
    lag = oldest_ready_age_s(spool_dir)
    backlog = backlog_bytes(spool_dir)
    checks = {
        "spool_writable": os.access(spool_dir / "active", os.W_OK),
        "spool_backlog_ok": backlog <= settings.spool_max_bytes,
        "loader_lag_ok": lag <= settings.max_loader_lag_s,
    }
    ready = all(checks.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": checks,
        "loader_lag_s": round(lag, 3),
        "spool_backlog_bytes": backlog,
    }
    return jsonify(body), 200 if ready else 503


@bp.get("/metrics")
def metrics_text() -> Response:
    payload, content_type = metrics.render()
    return Response(payload, content_type=content_type)
