"""Every error is JSON with a reason; bad input is a 4xx, never a 5xx.

The catch-all here is the only one in the service: it logs the endpoint and
exception type, never the payload, and answers 500 (a bug, not bad input).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from service import metrics
from service.http.ratelimit import LIMITED_ENDPOINTS
from service.http.tracking import pixel_response
from service.http_errors import classify
from service.ingest.parse import ParseError
from service.ingest.spool import SpoolUnavailable

log = logging.getLogger("clearcount.http")

RETRY_AFTER_S = "5"


def _json(status: int, error: str, message: str) -> tuple[Response, int]:
    return jsonify(error=error, message=message), status


def register(app: Flask) -> None:
    @app.errorhandler(ParseError)
    def _parse(exc: ParseError) -> tuple[Response, int]:
        metrics.EVENTS_DROPPED.labels("invalid").inc()
        return _json(exc.status, exc.error, exc.message)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> tuple[Response, int]:
        metrics.EVENTS_DROPPED.labels("oversize").inc()
        limit = app.config["MAX_CONTENT_LENGTH"]
        return _json(413, "oversize", f"the body is larger than {limit} bytes")

    @app.errorhandler(SpoolUnavailable)
    def _spool(exc: SpoolUnavailable) -> tuple[Response, int]:
        metrics.EVENTS_DROPPED.labels("spool_unavailable").inc()
        log.error("spool unavailable", extra={"endpoint": request.endpoint, "reason": str(exc)})
        response, status = _json(503, "spool_unavailable", "events cannot be stored now; retry")
        response.headers["Retry-After"] = RETRY_AFTER_S
        return response, status

    @app.errorhandler(429)
    def _rate_limited(exc: HTTPException) -> tuple[Response, int]:
        if request.endpoint in LIMITED_ENDPOINTS:  # an ingest request: its events are dropped
            metrics.EVENTS_DROPPED.labels("rate_limited").inc()
        if request.endpoint == "tracking.pixel":
            # The pixel always answers a GIF: a limited hit is simply not recorded.
            return pixel_response(), 200
        response, status = _json(429, "rate_limited", "too many requests from this client")
        response.headers.setdefault("Retry-After", "60")
        return response, status

    @app.errorhandler(ParseException)
    def _malformed_body(exc: ParseException) -> tuple[Response, int]:
        # Raised by the server's body reader (chunked framing) while the app reads the body.
        metrics.EVENTS_DROPPED.labels("invalid").inc()
        status, _reason, error, message = classify(exc)
        return _json(status, error, message)

    @app.errorhandler(NoMoreData)
    def _incomplete_body(exc: NoMoreData) -> tuple[Response, int]:
        metrics.EVENTS_DROPPED.labels("invalid").inc()
        return _json(400, "incomplete_body", "the body ended before its announced length")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        name = (exc.name or "error").lower().replace(" ", "_")
        response, status = _json(code, name, exc.description or name)
        for header, value in exc.get_headers():
            if header.lower() != "content-type":
                response.headers[header] = value
        return response, status

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> tuple[Response, int]:
        log.error(
            "unhandled error",
            extra={"endpoint": request.endpoint, "error": type(exc).__name__},
        )
        return _json(500, "internal_error", "the collector failed; this is a bug")
