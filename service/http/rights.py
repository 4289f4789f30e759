"""POST /api/consent: a visitor's consent change, appended to the consent log.

The record holds the site, the pseudonymous visitor key (the same
HMAC(site secret, visitor_id) that events carry), the previous and new state,
the policy version and where the change came from; never the raw id.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, jsonify, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from service.http.client import client_from_request
from service.http.state import state
from service.ingest.client_facts import stable_key
from service.ingest.parse import ParseError
from service.ingest.rules import SITE_ID
from service.sites import CONSENT_STATES

bp = Blueprint("rights", __name__)

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


_CONSENT = ConsentSchema()


def _json_body() -> dict[str, Any]:
    body = request.get_data(cache=False)
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ParseError(400, "invalid_json", "the body is not a JSON object") from None
    if not isinstance(doc, dict):
        raise ParseError(400, "invalid_json", "the body is not a JSON object")
    return doc


@bp.post("/api/consent")
def consent() -> Response | tuple[Response, int]:
    app_state = state()
    try:
        data = _CONSENT.load(_json_body())
    except ValidationError as exc:
        return jsonify(
            error="invalid", message="the consent change is not valid", errors=exc.messages
        ), 400
    site = app_state.ctx.sites.get(data["site"])
    if site is None:
        return jsonify(error="unknown_site", message="no such site"), 403
    origin = request.headers.get("Origin")
    if origin is not None and not site.allows_origin(origin):
        return jsonify(
            error="origin_not_allowed", message="this Origin may not act for the site"
        ), 403
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
    return Response(status=204)
