"""GET / lists only what this collector serves; a site without a Stats API token says so."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from service.app import create_app
from service.settings import Settings
from service.sites import parse_sites

SITES = """
[sites.shop]
origins = ["https://shop.example"]

[sites.blog]
origins = ["https://blog.example"]
stats_token = "blog-token-0123456789"
"""


def client(tmp_path: Path, *, demo: bool) -> FlaskClient:
    app = create_app(
        Settings(data_dir=tmp_path, demo=demo), sites=parse_sites(SITES), housekeeping=False
    )
    return app.test_client()


def test_the_landing_page_links_the_demo_only_when_it_is_on(tmp_path: Path) -> None:
    off = client(tmp_path, demo=False).get("/", base_url="http://collector.example")
    on = client(tmp_path, demo=True).get("/", base_url="http://collector.example")
    assert off.status_code == on.status_code == 200
    assert 'href="/demo"' not in off.text
    assert 'href="/demo"' in on.text
    assert 'href="/healthz"' in off.text
    for site in ("shop", "blog"):
        assert f"data-site=&quot;{site}&quot;" in off.text
    assert "http://collector.example/beacon.js" in off.text


def test_the_landing_page_escapes_the_host_it_was_asked_for(tmp_path: Path) -> None:
    page = client(tmp_path, demo=False).get("/", headers={"Host": 'x"><img src=y>'}).text
    assert "<img" not in page


def test_a_site_without_a_stats_token_answers_401_saying_why(tmp_path: Path) -> None:
    response = client(tmp_path, demo=False).get(
        "/api/stats/aggregate?site=shop", headers={"Authorization": "Bearer anything"}
    )
    assert response.status_code == 401
    assert "no stats_token" in response.json["message"]  # type: ignore[index]
    other = client(tmp_path, demo=False).get(
        "/api/stats/aggregate?site=shop", headers={"Authorization": "Bearer blog-token-0123456789"}
    )
    assert other.status_code == 401
