"""The beacon as served: small, cacheable, and free of what a strict CSP forbids."""

from __future__ import annotations

import gzip
from pathlib import Path

from service.app import create_app
from service.demo_sites import demo_sites_toml
from service.http.beacon import SOURCE, beacon_asset
from service.settings import Settings
from service.sites import parse_sites

BUDGET_BYTES = 1536  # 1.5 KiB, gzipped, as served


def test_served_beacon_fits_the_size_budget() -> None:
    asset = beacon_asset()
    assert len(asset.gzipped) <= BUDGET_BYTES, f"{len(asset.gzipped)} bytes gzipped"
    assert gzip.decompress(asset.gzipped) == asset.body


def test_beacon_source_needs_no_eval_and_sets_no_cookie() -> None:
    source = SOURCE.read_text()
    for forbidden in ("eval(", "new Function", "document.cookie", "innerHTML", "document.write"):
        assert forbidden not in source


def test_beacon_route_caches_by_content_hash(tmp_path: Path) -> None:
    app = create_app(
        Settings(data_dir=tmp_path),
        sites=parse_sites(demo_sites_toml("127.0.0.1:8000")),
        housekeeping=False,
    )
    client = app.test_client()
    first = client.get("/beacon.js", headers={"Accept-Encoding": "gzip"})
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert first.headers["Content-Encoding"] == "gzip"
    assert "max-age=86400" in first.headers["Cache-Control"]
    assert len(first.data) <= BUDGET_BYTES
    again = client.get("/beacon.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    plain = client.get("/beacon.js")
    assert plain.headers.get("Content-Encoding") is None
    assert plain.data.startswith(b"(function(")


def test_preflight_only_for_configured_origins(tmp_path: Path) -> None:
    app = create_app(
        Settings(data_dir=tmp_path),
        sites=parse_sites(demo_sites_toml("127.0.0.1:8000")),
        housekeeping=False,
    )
    client = app.test_client()
    allowed = client.options(
        "/api/event",
        headers={"Origin": "http://127.0.0.1:8000", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8000"
    refused = client.options("/api/event", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
