"""CORS for /api/*: only the configured sites' Origins get an answer.

The beacon sends text/plain (no preflight); the answer still needs
Access-Control-Allow-Origin for the page to read the status and retry on 429
or 503. Preflights (a JSON fetch from a site's own code) are answered only
for Origins that some site allows; anyone else gets a 403.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, Response, request

from service.sites import Site, normalize_origin

ALLOWED_METHODS = "POST, GET, OPTIONS"
ALLOWED_HEADERS = "Content-Type"
PREFLIGHT_MAX_AGE_S = "86400"


def install_cors(app: Flask, sites: Mapping[str, Site]) -> None:
    # Every answer from the API runs the check below: one set lookup, not a scan of the sites.
    origins = frozenset(o for site in sites.values() for o in site.origin_set)

    def _allowed(origin: str) -> bool:
        return normalize_origin(origin) in origins

    @app.before_request
    def _preflight() -> Response | None:
        if request.method != "OPTIONS" or not request.path.startswith("/api/"):
            return None
        origin = request.environ.get("HTTP_ORIGIN", "")
        if not origin or not _allowed(origin):
            response = Response(
                b'{"error":"origin_not_allowed","message":"this Origin may not call the API"}',
                status=403,
                mimetype="application/json",
            )
            return response
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE_S
        return response

    @app.after_request
    def _allow_origin(response: Response) -> Response:
        origin = request.environ.get("HTTP_ORIGIN")
        if origin and request.path.startswith("/api/") and _allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers.add("Vary", "Origin")
        return response
