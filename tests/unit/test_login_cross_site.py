"""Login and logout refuse a POST another site's page made the browser send."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.app import create_app
from service.settings import Settings
from service.sites import parse_sites

TOKEN = "shop-token-0123456789abcdef"
SITES = f'[sites.shop]\norigins = ["https://shop.example"]\nstats_token = "{TOKEN}"\n'
BASE = "http://127.0.0.1:8000"

# (headers the browser sent, whether the form is taken)
CASES = [
    ({}, True),  # curl or a script: no browser, no cross-site request
    ({"Origin": BASE, "Sec-Fetch-Site": "same-origin"}, True),
    ({"Sec-Fetch-Site": "none"}, True),  # typed into the address bar or a bookmark
    ({"Origin": BASE}, True),
    ({"Origin": "https://stats.example.com"}, True),  # the --public-url
    ({"Origin": "https://evil.test", "Sec-Fetch-Site": "cross-site"}, False),
    ({"Origin": "https://evil.test"}, False),
    ({"Sec-Fetch-Site": "cross-site"}, False),
    ({"Sec-Fetch-Site": "same-site"}, False),  # a sibling subdomain is another site's page
    ({"Origin": "null"}, False),  # a sandboxed frame or a data: page
    # The collector's own form under its no-referrer policy: Fetch Metadata tells.
    ({"Origin": "null", "Sec-Fetch-Site": "same-origin"}, True),
    ({"Origin": BASE, "Sec-Fetch-Site": "cross-site"}, False),
    ({"Origin": "http://127.0.0.1:8001"}, False),
]
IDS = [f"case{i}" for i in range(len(CASES))]


@pytest.mark.parametrize(("headers", "taken"), CASES, ids=IDS)
@pytest.mark.parametrize("path", ["/dashboard/login", "/dashboard/logout"], ids=["in", "out"])
def test_a_cross_site_form_post_is_refused(
    path: str, headers: dict[str, str], taken: bool, tmp_path: Path
) -> None:
    app = create_app(
        Settings(data_dir=tmp_path, public_url="https://stats.example.com"),
        sites=parse_sites(SITES),
        housekeeping=False,
    )
    answer = app.test_client().post(
        path, data={"site": "shop", "token": TOKEN}, headers=headers, base_url=BASE
    )
    if taken:
        assert answer.status_code == 303
    else:
        assert answer.status_code == 403
        assert "Set-Cookie" not in answer.headers
