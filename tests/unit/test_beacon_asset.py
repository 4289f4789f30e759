"""The beacon as served: small, cacheable, and free of what a strict CSP forbids."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from service.app import create_app
from service.demo_sites import demo_sites_toml
from service.http.beacon import SOURCE, beacon_asset
from service.http.behaviour import SOURCE as BEHAVIOUR_SOURCE
from service.settings import Settings
from service.sites import parse_sites

# Gzipped, as served: 1.5 KiB, and the 48 bytes of the warning a local page logs.
BUDGET_BYTES = 1600


def test_served_beacon_fits_the_size_budget() -> None:
    asset = beacon_asset()
    assert len(asset.gzipped) <= BUDGET_BYTES, f"{len(asset.gzipped)} bytes gzipped"
    assert gzip.decompress(asset.gzipped) == asset.body


@pytest.mark.parametrize("script", [SOURCE, BEHAVIOUR_SOURCE], ids=["beacon", "behaviour"])
def test_scripts_need_no_eval_and_set_no_cookie(script: Path) -> None:
    source = script.read_text()
    for forbidden in ("eval(", "new Function", "document.cookie", "innerHTML", "document.write"):
        assert forbidden not in source


def test_the_second_script_reads_no_text_or_attribute_value_of_the_page() -> None:
    """Only tags, ids and classes make a selector; the page's text, form values and links
    are never read (web-vitals' own ``metric.value`` aside)."""
    source = BEHAVIOUR_SOURCE.read_text().replace("metric.value", "")
    for forbidden in ("innerText", "textContent", "innerHTML", ".value", ".href", ".src"):
        assert forbidden not in source


def test_the_second_script_follows_the_sites_switches(tmp_path: Path) -> None:
    sites = parse_sites(
        """[sites.maps]
heatmaps = true
vitals = true
[sites.clicks]
heatmaps = true
[sites.plain]
"""
    )
    client = create_app(Settings(data_dir=tmp_path), sites=sites, housekeeping=False).test_client()
    both = client.get("/api/behaviour.js?site=maps")
    assert both.status_code == 200
    assert both.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "max-age=300" in both.headers["Cache-Control"]
    assert b"webVitals" in both.data
    assert b'"heatmaps":true' in both.data
    assert b"sourceMappingURL" not in both.data
    clicks = client.get("/api/behaviour.js?site=clicks")
    assert b"webVitals" not in clicks.data
    assert b'"heatmaps":true' in clicks.data
    plain = client.get("/api/behaviour.js?site=plain")
    assert plain.status_code == 200
    assert plain.data.startswith(b"/*")
    assert b"SETTINGS" not in plain.data
    assert client.get("/api/behaviour.js?site=nowhere").status_code == 404
    assert client.get("/api/behaviour.js").status_code == 404
    again = client.get(
        "/api/behaviour.js?site=maps", headers={"If-None-Match": both.headers["ETag"]}
    )
    assert again.status_code == 304


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
