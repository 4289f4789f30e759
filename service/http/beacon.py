"""GET /beacon.js: the tracker, minified once per process, cached by content hash.

The URL is not versioned (site owners paste it once), so browsers keep it a
day and then revalidate with the ETag; an unchanged beacon costs a 304.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from calmjs.parse import es5
from calmjs.parse.unparsers.es5 import minify_print
from flask import Blueprint, Response, request

bp = Blueprint("beacon", __name__)

SOURCE = Path(__file__).resolve().parents[1] / "static" / "beacon.js"
MAX_AGE_S = 86_400


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str


@functools.cache
def beacon_asset() -> Asset:
    """The served beacon: names shortened, comments and whitespace gone, gzip -9."""
    minified = minify_print(
        es5(SOURCE.read_text(encoding="utf-8")), obfuscate=True, obfuscate_globals=False
    ).encode()
    digest = hashlib.sha256(minified).hexdigest()[:20]
    return Asset(minified, gzip.compress(minified, 9, mtime=0), f'"{digest}"')


@bp.get("/beacon.js")
def beacon() -> Response:
    asset = beacon_asset()
    headers = {
        "ETag": asset.etag,
        "Cache-Control": f"public, max-age={MAX_AGE_S}, stale-while-revalidate=604800",
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",  # a public script; no credentials involved
        "X-Content-Type-Options": "nosniff",
    }
    if asset.etag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers=headers)
    response = Response(asset.body, content_type="text/javascript; charset=utf-8", headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.set_data(asset.gzipped)
        response.headers["Content-Encoding"] = "gzip"
    return response
