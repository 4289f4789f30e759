"""parse: turn a request body into a list of candidate events.

Most bodies are read by orjson in one go. One that orjson refuses may still
be a JSON array most of whose events are fine: a number no float or integer
can hold (``1e309``, a 5,000-digit integer) or a lone surrogate escape in one
event must not cost the others. Such a body is read again by the standard
library's parser, which accepts those values, and every event holding one is
replaced by an ``Unrepresentable`` marker that validation rejects on its own.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import orjson

MAX_BATCH = 100
ACCEPTED_CONTENT_TYPES = ("application/json", "text/plain", "")
IDENTITY_ENCODINGS = ("", "identity")
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class ParseError(Exception):
    """The body as a whole cannot be read; ``status`` is the 4xx to answer."""

    status: int
    error: str
    message: str


class Unrepresentable:
    """An event holding a value no stored column could represent; rejected by validation."""

    MESSAGE = "a value in this event cannot be represented (number out of range, lone surrogate)"


class _Bad:
    """Marks, while re-reading, a number or string that cannot be represented."""


_BAD = _Bad()


def parse(body: bytes, content_type: str | None, content_encoding: str | None = None) -> list[Any]:
    """A JSON object or an array of up to ``MAX_BATCH`` of them.

    ``text/plain`` is read as JSON because ``navigator.sendBeacon`` sends
    strings that way to avoid a CORS preflight.
    """
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime not in ACCEPTED_CONTENT_TYPES:
        raise ParseError(415, "unsupported_media_type", "send application/json or text/plain")
    if (content_encoding or "").strip().lower() not in IDENTITY_ENCODINGS or body.startswith(
        GZIP_MAGIC
    ):
        raise ParseError(
            415, "unsupported_encoding", "send the body uncompressed: compressed bodies are refused"
        )
    if not body.strip():
        raise ParseError(400, "empty_body", "the body is empty")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = _salvage(body)
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


def _salvage(body: bytes) -> Any:
    """The body read by the standard library, events with unrepresentable values marked."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError(400, "invalid_utf8", "the body is not valid UTF-8") from None
    try:
        doc = json.loads(
            text,
            parse_int=_int_or_bad,
            parse_float=_float_or_bad,
            parse_constant=lambda _: _BAD,  # NaN, Infinity: not JSON
        )
    except (json.JSONDecodeError, RecursionError):
        raise ParseError(400, "invalid_json", "the body is not valid JSON") from None
    if isinstance(doc, list):
        return [Unrepresentable() if _holds_bad(event) else event for event in doc]
    if _holds_bad(doc):
        raise ParseError(400, "invalid_json", Unrepresentable.MESSAGE)
    return doc


def _int_or_bad(text: str) -> Any:
    try:
        return int(text)
    except ValueError:  # past the interpreter's digit limit
        return _BAD


def _float_or_bad(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _BAD


def _holds_bad(value: Any) -> bool:
    if value is _BAD:
        return True
    if isinstance(value, str):
        return not value.isascii() and _has_lone_surrogate(value)
    if isinstance(value, dict):
        return any(_holds_bad(k) or _holds_bad(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_bad(v) for v in value)
    return False


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
