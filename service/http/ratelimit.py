"""Per-client rate limit (flask-limiter), keyed by a keyed hash of the client's network.

An IPv4 client is its address. An IPv6 client is its /64 (``rate_limit_ipv6_prefix``):
one subscriber is handed a whole /64 and its devices rotate privacy addresses
within it at will, so keying on the full address would give every client as
many buckets as it cares to use.

The bucket key is an HMAC under a secret from ``keys/``, so neither memory
nor a shared store (redis) ever holds an IP or a plainly reversible hash of
one. With ``memory://`` each gunicorn worker counts on its own; point
``CLEARCOUNT_RATE_LIMIT_STORAGE`` at redis for one limit across workers.
Wrong dashboard tokens are counted apart, across workers and collectors, in the keys
location (service.storage.shared_counts), under the same network key.
"""

from __future__ import annotations

import functools

from flask import Flask, request
from flask_limiter import Limiter

from service.privacy.ip import client_network, parse_ip
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


def rate_limit_network(address: str, ipv6_prefix: int) -> str:
    """The network a client's requests are counted under (IPv4-mapped IPv6 as IPv4)."""
    ip = parse_ip(address)
    return address if ip is None else client_network(ip, ipv6_prefix)


@functools.lru_cache(maxsize=4096)
def network_key(secret: bytes, address: str, ipv6_prefix: int) -> str:
    """The keyed hash a client's network is counted under: never the address itself."""
    return format(hmac64(secret, rate_limit_network(address, ipv6_prefix)), "x")


def install_rate_limit(app: Flask, settings: Settings, keys: KeyStore) -> Limiter | None:
    if settings.rate_limit <= 0:
        return None
    secret = keys.rate_limit_key()

    def client_key() -> str:
        return network_key(secret, request.remote_addr or "", settings.rate_limit_ipv6_prefix)

    limiter = Limiter(
        client_key,
        app=app,
        storage_uri=settings.rate_limit_storage,
        strategy="moving-window",
        headers_enabled=True,
    )
    if settings.rate_limit > 0:
        # One bucket for every ingest endpoint: a client cannot triple its share by
        # spreading requests over the API, the pixel and the redirect.
        shared = limiter.shared_limit(f"{settings.rate_limit}/minute", scope="ingest")
        for endpoint in LIMITED_ENDPOINTS:
            # The decorated function does the checking, so it must be the registered view.
            app.view_functions[endpoint] = shared(app.view_functions[endpoint])  # type: ignore[assignment]
    return limiter
