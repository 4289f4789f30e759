"""Per-client rate limit (flask-limiter), keyed by a keyed hash of the client IP.

The bucket key is an HMAC under a secret from ``keys/``, so neither memory
nor a shared store (redis) ever holds an IP or a plainly reversible hash of
one. With ``memory://`` each gunicorn worker counts on its own; point
``CLEARCOUNT_RATE_LIMIT_STORAGE`` at redis for one limit across workers.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter

from service.privacy.keys import KeyStore
from service.privacy.pseudonym import hmac64
from service.settings import Settings

LIMITED_ENDPOINTS = (
    "collect.post_event",
    "tracking.pixel",
    "tracking.follow",
    "rights.consent",
    "rights.forget",
    "rights.export",
)


def install_rate_limit(app: Flask, settings: Settings, keys: KeyStore) -> Limiter | None:
    if settings.rate_limit <= 0:
        return None
    secret = keys.rate_limit_key()

    def client_key() -> str:
        return format(hmac64(secret, request.remote_addr or ""), "x")

    limiter = Limiter(
        client_key,
        app=app,
        storage_uri=settings.rate_limit_storage,
        strategy="moving-window",
        headers_enabled=True,
    )
    # One bucket for every ingest endpoint: a client cannot triple its share by
    # spreading requests over the API, the pixel and the redirect.
    shared = limiter.shared_limit(f"{settings.rate_limit}/minute", scope="ingest")
    for endpoint in LIMITED_ENDPOINTS:
        # The decorated function does the checking, so it must be the registered view.
        app.view_functions[endpoint] = shared(app.view_functions[endpoint])  # type: ignore[assignment]
    return limiter
