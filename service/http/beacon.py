"""GET /beacon.js: the tracker, minified once per process, cached by content hash.

The URL is not versioned (site owners paste it once), so browsers keep it a
day and then revalidate with the ETag; an unchanged beacon costs a 304. It is
compressed with zopfli, whose gzip is some twenty bytes smaller than zlib's
level 9 for the same file: the beacon's size budget counts every byte.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import zopfli.gzip
from calmjs.parse import es5
from calmjs.parse.unparsers.es5 import minify_print
from flask import Blueprint, Response, request

bp = Blueprint("beacon", __name__)

STATIC = Path(__file__).resolve().parents[1] / "static"
SOURCE = STATIC / "beacon.js"
MAX_AGE_S = 86_400
ZOPFLI_ITERATIONS = 300  # 0.2 s once per process; more finds no further byte here


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes, compress: Callable[[bytes], bytes]) -> Asset:
        return cls(body, compress(body), f'"{hashlib.sha256(body).hexdigest()[:20]}"')


def minified(source: Path) -> bytes:
    """An ES5 script with its local names shortened, comments and whitespace gone."""
    text: str = minify_print(
        es5(source.read_text(encoding="utf-8")),
        obfuscate=True,
        obfuscate_globals=False,
        drop_semi=True,
        shadow_funcname=True,
    )
    return text.encode()


def gzip9(body: bytes) -> bytes:
    return gzip.compress(body, 9, mtime=0)


@functools.cache
def beacon_asset() -> Asset:
    """The served beacon, as small as it can be made."""
    return Asset.of(
        minified(SOURCE), lambda body: zopfli.gzip.compress(body, numiterations=ZOPFLI_ITERATIONS)
    )


def serve(asset: Asset, max_age_s: int, status: int = 200, stale_s: int = 604_800) -> Response:
    """A public script with its ETag (304 when unchanged), gzipped when the client takes it;
    a cache may serve it ``stale_s`` past its age while it revalidates."""
    stale = f", stale-while-revalidate={stale_s}" if stale_s else ""
    headers = {
        "ETag": asset.etag,
        "Cache-Control": f"public, max-age={max_age_s}{stale}",
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",  # a public script; no credentials involved
        "X-Content-Type-Options": "nosniff",
    }
    if status == 200 and asset.etag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers=headers)
    response = Response(
        asset.body, status=status, content_type="text/javascript; charset=utf-8", headers=headers
    )
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.set_data(asset.gzipped)
        response.headers["Content-Encoding"] = "gzip"
    return response


@bp.get("/beacon.js")
def beacon() -> Response:
    return serve(beacon_asset(), MAX_AGE_S)
