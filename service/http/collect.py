"""POST /api/event: one event or a batch of up to 100."""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, request

from service import metrics
from service.http.client import client_from_request
from service.http.origin_warnings import warn_refused_origin
from service.http.state import state
from service.ingest.parse import parse
from service.ingest.pipeline import BatchResult, process
from service.ingest.spool import SpoolUnavailable

bp = Blueprint("collect", __name__)


def count(result: BatchResult) -> None:
    """Metrics once per request, not per event, into the in-process tally."""
    tally = metrics.TALLY
    for site, n in result.sites.items():
        tally.add(metrics.EVENTS_ACCEPTED, site, n)
    for reason, n in result.dropped.items():
        tally.add(metrics.EVENTS_DROPPED, reason, n)
    for table, n in result.stored.items():
        tally.add(metrics.RECORDS_SPOOLED, table, n)


@bp.post("/api/event")
def post_event() -> Response:
    app_state = state()
    refusal = app_state.refusal()
    if refusal is not None:
        raise SpoolUnavailable(refusal)
    raws = parse(
        request.get_data(cache=False),
        request.content_type,
        request.environ.get("HTTP_CONTENT_ENCODING"),
    )
    client = client_from_request(request, app_state.ctx.clock())
    result = process(raws, client, app_state.ctx, app_state.spool)
    count(result)
    if result.origin_refused_for:
        warn_refused_origin(result.origin_refused_for, client.origin)
    return Response(orjson.dumps(result.body()), result.status, mimetype="application/json")
