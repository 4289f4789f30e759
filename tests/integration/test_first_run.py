"""The first minutes with clearcount, as the README tells them: `serve` with no sites file."""

from __future__ import annotations

import re
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import patience
from tests.integration.server import Server

pytestmark = pytest.mark.slow

VISITOR_IP = "203.0.113.77"


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(
        tmp_path_factory.mktemp("first"), {"CLEARCOUNT_DEMO": "1"}, sites_toml=None
    ).start()
    yield server
    server.stop()


def sites(server: Server) -> dict[str, dict[str, object]]:
    doc = tomllib.loads((server.root / "sites.toml").read_text())
    tables: dict[str, dict[str, object]] = doc["sites"]
    return tables


def test_the_demo_sites_file_follows_the_bind_and_is_private(first: Server) -> None:
    path = first.root / "sites.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    demo = sites(first)["demo"]
    assert demo["origins"] == [f"http://127.0.0.1:{first.port}", f"http://localhost:{first.port}"]
    tokens = [table["stats_token"] for table in sites(first).values()]
    assert len(tokens) == 3
    assert len(set(tokens)) == 3
    assert all(isinstance(t, str) and len(t) >= 24 for t in tokens)


def test_start_prints_where_to_look_and_a_token_that_works(first: Server) -> None:
    log = first.log_path.read_text()
    assert f"clearcount is collecting on {first.url}" in log
    assert f"{first.url}/demo" in log
    assert str((first.root / "sites.toml").resolve()) in log
    printed = re.search(r"Authorization: Bearer ([\w-]+)' '([^']+)'", log)
    assert printed is not None
    token, url = printed.groups()
    assert token == sites(first)["demo"]["stats_token"]
    response = requests.get(
        url, headers={"Authorization": f"Bearer {token}"}, timeout=patience.HTTP_S
    )
    assert response.status_code == 200
    assert set(response.json()["results"]) >= {"visitors", "pageviews"}


def test_the_demo_page_posts_from_its_own_origin(first: Server) -> None:
    for origin in sites(first)["demo"]["origins"]:  # type: ignore[union-attr]
        response = first.post(
            {"site": "demo", "url": f"{origin}/demo"},
            headers={
                "Origin": origin,
                "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
            },
        )
        assert response.status_code == 202, origin


def test_a_refused_origin_is_named_in_the_log_with_its_site_not_its_visitor(
    first: Server,
) -> None:
    response = first.post(
        {"site": "demo", "url": "http://127.0.0.1:9/demo"},
        headers={
            "Origin": "http://127.0.0.1:9",
            "X-Forwarded-For": VISITOR_IP,
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        },
    )
    assert response.status_code == 403
    log = first.log_path.read_text()
    warnings = [line for line in log.splitlines() if "origin refused" in line]
    assert len(warnings) == 1
    assert '"site":"demo"' in warnings[0]
    assert '"origin":"http://127.0.0.1:9"' in warnings[0]
    assert VISITOR_IP not in log


def test_the_landing_page_says_what_this_is_and_how_to_use_it(first: Server) -> None:
    response = requests.get(first.url + "/", timeout=patience.HTTP_S)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    page = response.text
    assert "clearcount" in page
    assert 'href="/demo"' in page
    assert 'href="/dashboard"' in page
    for site in ("demo", "blog", "docs"):
        assert f"data-site=&quot;{site}&quot;" in page
    assert f"src=&quot;{first.url}/beacon.js&quot;" in page
    assert "<script" not in page  # the snippet is shown, never run


def test_a_second_start_keeps_the_file_and_prints_no_token(first: Server, tmp_path: Path) -> None:
    before = (first.root / "sites.toml").read_text()
    again = Server(first.root / "again", sites_toml=before).start()
    try:
        log = again.log_path.read_text()
        assert "clearcount is collecting on" in log
        assert "Bearer <stats_token>" in log
        for table in sites(first).values():
            assert str(table["stats_token"]) not in log
    finally:
        again.stop()
