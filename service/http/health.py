"""Liveness, readiness and metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from service import metrics
from service.http.state import state
from service.ingest.spool import backlog_bytes, can_write, free_bytes, oldest_ready_age_s

bp = Blueprint("health", __name__)


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
    }
    return jsonify(body), 200 if ready else 503


@bp.get("/metrics")
def metrics_text() -> Response:
    payload, content_type = metrics.render()
    return Response(payload, content_type=content_type)
