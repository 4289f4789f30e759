"""No-JS tracking: GET /api/pixel.gif (page views, e-mail opens) and GET /r (clicks).

Both answer the browser first: the pixel is always a GIF and a valid redirect
always redirects, even when the event itself is invalid or cannot be spooled
(that loss is counted in metrics, never hidden).

In backfill mode (``clearcount demo``'s own collector, imports of old traffic) both
take ``ts``, the event's time in ms since the epoch, as ``POST /api/event`` does; a
collector not in backfill mode ignores it and dates the hit by its arrival.
"""

from __future__ import annotations

import base64
import dataclasses
import logging

from flask import Blueprint, Response, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from service import metrics
from service.http.client import client_from_request
from service.http.collect import count
from service.http.redirect_safety import safe_redirect_target
from service.http.state import state
from service.ingest.event import Fields, Target
from service.ingest.pipeline import dated, process
from service.ingest.spool import SpoolUnavailable
from service.ingest.validate import load_fields

bp = Blueprint("tracking", __name__)
log = logging.getLogger("clearcount.http")

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
MAX_PARAM = 2048


def _param(name: str) -> str | None:
    value = request.args.get(name)
    return value[:MAX_PARAM] if value else None


def _ts() -> int | None:
    """``ts`` as ms since the epoch: digits only, at most 13 of them, else None."""
    value = request.args.get("ts", "")
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 13 else None


def _record(fields: Fields) -> None:
    app_state = state()
    client = client_from_request(request, app_state.ctx.clock())
    if app_state.ctx.settings.backfill:
        client = dated(_ts(), client)
    try:
        count(process([fields], client, app_state.ctx, app_state.spool))
    except SpoolUnavailable:
        metrics.EVENTS_DROPPED.labels("spool_unavailable").inc()
        log.warning("tracking event lost", extra={"endpoint": request.endpoint})


def _fields(raw: dict[str, str | None], **override: object) -> Fields | None:
    result = load_fields({k: v for k, v in raw.items() if v is not None})
    if not isinstance(result, Fields):
        metrics.EVENTS_DROPPED.labels("invalid").inc()
        return None
    return dataclasses.replace(result, **override)  # type: ignore[arg-type]


@bp.get("/api/pixel.gif")
def pixel() -> Response:
    site_id, campaign = _param("site"), _param("c")
    site = state().ctx.sites.get(site_id or "")
    # Without url=, the embedding page is the one the browser names as Referer;
    # an e-mail open has neither, so it is recorded against the site's home.
    url = _param("url") or request.headers.get("Referer")
    if not url and site is not None and site.origins:
        url = site.origins[0] + "/"
    fields = _fields(
        {"site": site_id or "", "url": url or "", "referrer": _param("ref")},
        type="open" if campaign else "pageview",
        utm_campaign=campaign,
    )
    if fields is not None:
        _record(fields)
    return pixel_response()


def pixel_response() -> Response:
    """The 1x1 GIF, never cached: every open or view must reach the collector."""
    response = Response(GIF, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store, max-age=0"
    return response


@bp.get("/r")
def follow() -> BaseResponse | tuple[Response, int]:
    site_id, to, campaign = _param("site"), request.args.get("to", ""), _param("c")
    site = state().ctx.sites.get(site_id or "")
    if site is None:
        return jsonify(error="unknown_site", message="no such site"), 400
    target = safe_redirect_target(to, site.redirect_hosts)
    if target is None:
        return jsonify(
            error="redirect_not_allowed",
            message="'to' must be an absolute http(s) URL on one of the site's redirect_hosts",
        ), 400
    fields = _fields(
        {"site": site.id, "url": target, "type": "click"},
        target=Target(tag="a", href=target),
        utm_campaign=campaign,
    )
    try:
        response = redirect(target, code=302)
    except (UnicodeError, ValueError):  # a target the Location header cannot carry
        return jsonify(error="redirect_not_allowed", message="'to' cannot be redirected to"), 400
    if fields is not None:
        _record(fields)
    return response
