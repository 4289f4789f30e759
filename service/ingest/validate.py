"""validate: an allow-list schema per event; unknown fields reject that event only.

The schema instance is built once per process and reused; ``load`` on a
prepared schema is the cheapest marshmallow path that still runs every rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from service.ingest.event import EVENT_TYPES, Context, Dropped, DropReason, Event, Fields, Target

MAX_URL = 2048
MAX_PROPS = 20
MAX_PROP_KEY = 40
MAX_PROP_VALUE = 500
SITE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def _http_url(value: str) -> None:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        raise ValidationError("must be an absolute http(s) URL")


def _referrer(value: str) -> None:
    if value == "":
        return
    scheme = value.split(":", 1)[0].strip().lower()
    if scheme in ("javascript", "data", "vbscript", "file"):
        raise ValidationError(f"{scheme}: URLs are not accepted")


def _flat_props(value: Mapping[str, Any]) -> None:
    if len(value) > MAX_PROPS:
        raise ValidationError(f"at most {MAX_PROPS} keys")
    for key, item in value.items():
        if not 0 < len(key) <= MAX_PROP_KEY:
            raise ValidationError(f"keys must be 1-{MAX_PROP_KEY} characters")
        if isinstance(item, str):
            if len(item) > MAX_PROP_VALUE:
                raise ValidationError(f"{key}: strings are at most {MAX_PROP_VALUE} characters")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValidationError(f"{key}: numbers must be finite")
        elif item is not None and not isinstance(item, (bool, int)):
            raise ValidationError(f"{key}: values must be strings, numbers, booleans or null")


def _text(max_len: int, **kw: Any) -> fields.String:
    return fields.String(validate=validate.Length(max=max_len), **kw)


class TargetSchema(Schema):
    class Meta:
        unknown = RAISE

    tag = _text(32, allow_none=True)
    id = _text(256, allow_none=True)
    classes = _text(512, allow_none=True)
    href = _text(MAX_URL, allow_none=True)
    text = _text(1000, allow_none=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Target:
        return Target(**data)


class EventSchema(Schema):
    class Meta:
        unknown = RAISE

    site = fields.String(required=True, validate=validate.Regexp(SITE_ID))
    type = fields.String(load_default="pageview", validate=validate.OneOf(EVENT_TYPES))
    url = fields.String(required=True, validate=[validate.Length(max=MAX_URL), _http_url])
    referrer = fields.String(allow_none=True, validate=[validate.Length(max=MAX_URL), _referrer])
    ts = fields.Integer(strict=True, validate=validate.Range(min=0, max=2**53))
    consent = fields.String(validate=validate.OneOf(("denied", "implied", "granted")))
    visitor_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=128))
    user_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=256))
    name = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))
    props = fields.Dict(keys=fields.String(), allow_none=True, validate=_flat_props)
    target = fields.Nested(TargetSchema, allow_none=True)
    depth = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=100))
    engaged_ms = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=0, max=24 * 3600 * 1000)
    )
    sw = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=100_000))
    sh = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=100_000))

    @validates_schema
    def _by_type(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("type") == "custom" and not data.get("name"):
            raise ValidationError("custom events need a name", "name")

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Fields:
        return Fields(**data)


_SCHEMA = EventSchema()


def load_fields(raw: Any) -> Fields | dict[str, Any]:
    """The validated payload, or marshmallow's field → messages map."""
    if not isinstance(raw, dict):
        return {"_schema": ["each event must be a JSON object"]}
    try:
        result: Fields = _SCHEMA.load(raw)
    except ValidationError as exc:
        messages = exc.messages
        return messages if isinstance(messages, dict) else {"_schema": messages}
    return result


def validate_event(event: Event, ctx: Context) -> Event | Dropped:
    """Stage: reject this event (not the batch) unless every field passes its rule.

    The pixel and redirect endpoints validate their query parameters with the
    same schema and hand over ``Fields`` already; those pass through.
    """
    result = event.raw if isinstance(event.raw, Fields) else load_fields(event.raw)
    if isinstance(result, Fields):
        return Event(index=event.index, client=event.client, fields=result)
    return Dropped(event.index, DropReason.INVALID, errors=result)
