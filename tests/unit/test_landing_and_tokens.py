"""GET / lists only what this collector serves; a site without a Stats API token says so."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
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


def client(tmp_path: Path, *, demo: bool, **settings: str) -> FlaskClient:
    app = create_app(
        Settings(data_dir=tmp_path, demo=demo, **settings),  # type: ignore[arg-type]
        sites=parse_sites(SITES),
        housekeeping=False,
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


@pytest.mark.parametrize(
    ("settings", "tag"),
    [
        (
            {},
            '<script defer src="http://127.0.0.1:8000/beacon.js" data-site="shop" data-allow-local>',
        ),
        (
            {"bind": "[::1]:9000"},
            '<script defer src="http://[::1]:9000/beacon.js" data-site="shop" data-allow-local>',
        ),
        (
            {"bind": "0.0.0.0:8000", "public_url": "https://stats.example.com/"},
            '<script defer src="https://stats.example.com/beacon.js" data-site="shop">',
        ),
        (
            {"bind": "10.0.0.5:8000"},
            '<script defer src="http://10.0.0.5:8000/beacon.js" data-site="shop">',
        ),
    ],
    ids=["default-bind", "ipv6-loopback", "public-url", "lan-bind"],
)
def test_the_landing_page_tag_comes_from_the_public_url_never_the_host_header(
    settings: dict[str, str], tag: str, tmp_path: Path
) -> None:
    page = client(tmp_path, demo=False, **settings).get("/", headers={"Host": "evil.test"}).text
    assert html.escape(tag) in page
    assert "evil.test" not in page
    # On a loopback address the page says why its tags carry data-allow-local.
    assert ("counts pages on <code>localhost</code>" in page) == ("data-allow-local" in tag)


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
