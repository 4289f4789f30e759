"""parse: turn a request body into a list of candidate events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

MAX_BATCH = 100
ACCEPTED_CONTENT_TYPES = ("application/json", "text/plain", "")


@dataclass(frozen=True)
class ParseError(Exception):
    """The body as a whole cannot be read; ``status`` is the 4xx to answer."""

    status: int
    error: str
    message: str


def parse(body: bytes, content_type: str | None) -> list[Any]:
    """A JSON object or an array of up to ``MAX_BATCH`` of them.

    ``text/plain`` is read as JSON because ``navigator.sendBeacon`` sends
    strings that way to avoid a CORS preflight.
    """
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime not in ACCEPTED_CONTENT_TYPES:
        raise ParseError(415, "unsupported_media_type", "send application/json or text/plain")
    if not body.strip():
        raise ParseError(400, "empty_body", "the body is empty")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError(400, "invalid_utf8", "the body is not valid UTF-8") from None
        raise ParseError(400, "invalid_json", "the body is not valid JSON") from None
    if isinstance(doc, dict):
        return [doc]
    if isinstance(doc, list):
        if not doc:
            raise ParseError(400, "empty_batch", "the batch holds no events")
        if len(doc) > MAX_BATCH:
            raise ParseError(
                400, "batch_too_large", f"a batch holds at most {MAX_BATCH} events, not {len(doc)}"
            )
        return doc
    raise ParseError(400, "invalid_json", "the body must be a JSON object or array of objects")
