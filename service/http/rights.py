"""Visitor rights: consent changes, erasure and access.

* POST /api/consent appends to the consent log: site, the pseudonymous
  visitor key (the HMAC(site secret, visitor_id) that events carry), previous
  and new state, policy version and source; never the raw id.
* POST /api/forget accepts an erasure durably (202) for the loader to complete.
* POST /api/export returns the visitor's stored events.

Abuse resistance: all three are rate-limited; a browser (one that sends
Sec-Fetch-* headers) must send one of the site's Origins; and an unknown
visitor gets the same work and the same answer shape as a known one. A failure
while the request is carried out (storage unreachable, a bug) answers both
endpoints with one JSON error, 503 ``rights_unavailable``, whoever was asked
about: its status and body say nothing about the visitor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from flask import Blueprint, Response, jsonify, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from pipelines.rights import audit
from pipelines.rights.erasure import request_erasure
from pipelines.rights.export import export_visitor
from service.http.client import client_from_request
from service.http.state import state
from service.ingest.client_facts import stable_key
from service.ingest.rules import SITE_ID
from service.privacy.pseudonym import hmac64
from service.sites import CONSENT_STATES, Site
from service.storage.shared_counts import FORGET_REQUESTS

bp = Blueprint("rights", __name__)
log = logging.getLogger("clearcount.http")

RETRY_AFTER_S = "30"
T = TypeVar("T")

CONSENT_SOURCES = ("banner", "api", "gpc", "dnt")


class ConsentSchema(Schema):
    class Meta:
        unknown = RAISE

    site = fields.String(required=True, validate=validate.Regexp(SITE_ID))
    visitor_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=128))
    consent = fields.String(required=True, validate=validate.OneOf(CONSENT_STATES))
    previous = fields.String(allow_none=True, validate=validate.OneOf(CONSENT_STATES))
    policy_version = fields.String(allow_none=True, validate=validate.Length(min=1, max=32))
    source = fields.String(load_default="banner", validate=validate.OneOf(CONSENT_SOURCES))


class VisitorSchema(Schema):
    class Meta:
        unknown = RAISE

    site = fields.String(required=True, validate=validate.Regexp(SITE_ID))
    visitor_id = fields.String(required=True, validate=validate.Length(min=1, max=128))


_CONSENT, _VISITOR = ConsentSchema(), VisitorSchema()


class Refused(Exception):
    """A rights request that is answered with a 4xx and a JSON reason."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@bp.errorhandler(Refused)
def _refused(exc: Refused) -> tuple[Response, int]:
    return jsonify(error=exc.error, message=exc.message), exc.status


class RightsUnavailable(Exception):
    """A valid export or erasure request that could not be carried out now."""


@bp.errorhandler(RightsUnavailable)
def _unavailable(exc: RightsUnavailable) -> tuple[Response, int]:
    response = jsonify(
        error="rights_unavailable", message="the request could not be carried out now; retry"
    )
    response.headers["Retry-After"] = RETRY_AFTER_S
    return response, 503


def _carry_out(work: Callable[[], T]) -> T:
    """``work()``, or RightsUnavailable when it fails: the same answer for a known visitor
    as for an unknown one, with the failure's type logged (never its message, which may
    quote a key)."""
    try:
        return work()
    except Exception as exc:
        failure = {"endpoint": request.endpoint, "error": type(exc).__name__}
        log.error("rights request failed", extra=failure)
        raise RightsUnavailable from None


def _load(schema: Schema) -> tuple[dict[str, Any], Site]:
    """The validated body and its site, after the Origin rules."""
    try:
        doc = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError:
        raise Refused(400, "invalid_json", "the body is not a JSON object") from None
    if not isinstance(doc, dict):
        raise Refused(400, "invalid_json", "the body is not a JSON object")
    try:
        data: dict[str, Any] = schema.load(doc)
    except ValidationError as exc:
        named = exc.messages if isinstance(exc.messages, dict) else {}
        # Only the schema's own names: an unknown key is the client's text, never echoed.
        known = sorted(k for k in named if k in schema.fields)
        unknown = len(named) - len(known)
        detail = f"invalid fields: {known}" + (f", {unknown} unknown field(s)" if unknown else "")
        raise Refused(400, "invalid", detail) from None
    site = state().ctx.sites.get(data["site"])
    if site is None:
        raise Refused(403, "unknown_site", "no such site")
    origin = request.headers.get("Origin")
    # Headers iterates (name, value) pairs; .keys() gives the names.
    from_browser = any(h.lower().startswith("sec-fetch-") for h in request.headers.keys())  # noqa: SIM118
    if (origin is None and from_browser) or (origin is not None and not site.allows_origin(origin)):
        raise Refused(403, "origin_not_allowed", "this Origin may not act for the site")
    return data, site


def _erase(site: Site, column: str, key: int) -> None:
    ctx = state().ctx
    request_erasure(
        ctx.keys,
        site.id,
        column,
        key,
        block_days=site.erasure_block_days,
        now=ctx.clock(),
    )
    if ctx.tombstones is not None:
        ctx.tombstones.refresh()


@bp.post("/api/consent")
def consent() -> Response:
    app_state = state()
    data, site = _load(_CONSENT)
    client = client_from_request(request, app_state.ctx.clock())
    new_state, source = data["consent"], data["source"]
    if site.honor_dnt and (client.gpc or client.dnt):
        new_state, source = "denied", "gpc" if client.gpc else "dnt"
    visitor_key = None
    if data.get("visitor_id"):
        visitor_key = stable_key(
            client, app_state.ctx.keys.site_secret(site.id), data["visitor_id"]
        )
    record = {
        "k": "c",
        "site": site.id,
        "received_at": int(client.received_at.timestamp() * 1000),
        "visitor_key": visitor_key,
        "previous": data.get("previous"),
        "consent": new_state,
        "policy_version": data.get("policy_version") or site.policy_version,
        "source": source,
    }
    app_state.spool.append([orjson.dumps(record) + b"\n"])
    # Withdrawal: only a stable (granted) pseudonym can be denied afterwards.
    if site.erase_on_withdrawal and new_state == "denied" and visitor_key is not None:
        _erase(site, "visitor_key", visitor_key)
    return Response(status=204)


@bp.post("/api/forget")
def forget() -> tuple[Response, int]:
    """Durable before the 202; the loader removes the rows, including any still spooled.

    Limited per client network (``--forget-rate-limit``): each request costs the loader a
    search of the site's lake, so a flood of them from one client must not slow loading
    for everyone. A visitor asks once; a known and an unknown id count alike."""
    data, site = _load(_VISITOR)
    app_state = state()
    counts = app_state.shared_counts(FORGET_REQUESTS, app_state.ctx.settings.forget_rate_limit)

    def count() -> str | None:
        return counts.take(app_state.client_network(request.remote_addr or ""), time.time())

    if _carry_out(count) is None:
        response = jsonify(error="rate_limited", message="too many erasure requests; retry later")
        response.headers["Retry-After"] = str(counts.retry_after_s())
        return response, 429

    def accept() -> None:
        secret = state().ctx.keys.site_secret(site.id)
        _erase(site, "visitor_key", hmac64(secret, data["visitor_id"]))

    _carry_out(accept)
    return jsonify(status="accepted"), 202


@bp.post("/api/export")
def export() -> Response:
    data, site = _load(_VISITOR)
    ctx = state().ctx

    def collect() -> bytes:
        key = hmac64(ctx.keys.site_secret(site.id), data["visitor_id"])
        rows = export_visitor(ctx.settings.data_dir, site.id, key)
        audit.record(ctx.settings.data_dir, "export", actor="visitor", site=site.id, rows=len(rows))
        return orjson.dumps(rows, default=str)

    return Response(_carry_out(collect), mimetype="application/json")
