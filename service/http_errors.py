"""Answers to requests the HTTP parser refuses, in the collector's JSON error shape.

gunicorn answers a malformed request itself, before the app sees it: an HTML
page that quotes the offending request line, and a log line with the client's
address and the same quote, which may carry an e-mail from a query string.
Here the answer is ``{"error", "message"}`` like every other error of the
collector, with a status that fits the fault (414, 431, 400, ...) and never a
5xx for bad input, and the log names the error's type only.
"""

from __future__ import annotations

from typing import Any

import orjson
from gunicorn import util
from gunicorn.http import errors

# (status, reason phrase, error, message) by the parser's exception; first match wins.
_Kinds = type[BaseException] | tuple[type[BaseException], ...]
_ANSWERS: tuple[tuple[_Kinds, int, str, str, str], ...] = (
    (errors.LimitRequestLine, 414, "URI Too Long", "uri_too_long", "the request line is too long"),
    (
        errors.LimitRequestHeaders,
        431,
        "Request Header Fields Too Large",
        "headers_too_large",
        "the request headers are too large or too many",
    ),
    (
        (errors.InvalidChunkSize, errors.ChunkMissingTerminator, errors.InvalidChunkExtension),
        400,
        "Bad Request",
        "invalid_chunked_body",
        "the chunked body is malformed",
    ),
    (
        errors.UnsupportedTransferCoding,
        400,
        "Bad Request",
        "unsupported_transfer_coding",
        "only chunked transfer coding is accepted; send the body uncompressed",
    ),
    (
        errors.ExpectationFailed,
        417,
        "Expectation Failed",
        "expectation_failed",
        "only Expect: 100-continue is understood",
    ),
    (errors.ForbiddenProxyRequest, 403, "Forbidden", "forbidden", "proxy requests are refused"),
    (errors.ParseException, 400, "Bad Request", "malformed_http", "the request is not valid HTTP"),
)
# Refusals the worker makes itself, from the bytes it buffered, before gunicorn parses them.
REFUSALS: dict[str, tuple[int, str, str, str]] = {
    "head_too_large": (
        431,
        "Request Header Fields Too Large",
        "headers_too_large",
        "the request headers are too large or too many",
    ),
    "body_too_large": (413, "Content Too Large", "oversize", "the body is larger than 65536 bytes"),
    "malformed_body": (400, "Bad Request", "invalid_chunked_body", "the chunked body is malformed"),
}
_BUG = (500, "Internal Server Error", "internal_error", "the collector failed; this is a bug")


def classify(exc: BaseException) -> tuple[int, str, str, str]:
    """(status, reason phrase, error, message) for an exception raised outside the app."""
    for kind, status, reason, error, message in _ANSWERS:
        if isinstance(exc, kind):
            return status, reason, error, message
    return _BUG


def response_bytes(status: int, reason: str, error: str, message: str) -> bytes:
    body = orjson.dumps({"error": error, "message": message})
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def answer_malformed(log: Any, req: Any, client: Any, exc: BaseException) -> None:
    """Log the refusal by type, write the JSON answer; the connection is closed after it."""
    status, reason, error, message = classify(exc)
    if status >= 500:
        log.error("error outside the app (%s): answered %d", type(exc).__name__, status)
    else:
        log.warning("malformed request (%s): answered %d", type(exc).__name__, status)
    try:
        util.write_nonblock(client, response_bytes(status, reason, error, message))
    except OSError:
        log.debug("could not send the error answer")
