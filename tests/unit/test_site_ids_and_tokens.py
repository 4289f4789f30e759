"""Site ids and tokens the sites file may hold: what the dashboard and its cookies need."""

from __future__ import annotations

import pytest

from service.sites import SitesError, parse_sites

GOOD_TOKEN = "0123456789abcdef"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[sites."a b"]\n', "a site id is"),
        ('[sites."shop;x"]\n', "a site id is"),
        ("[sites.login]\n", "not login or logout"),
        ("[sites.logout]\n", "not login or logout"),
        ('[sites.shop]\nstats_token = "short"\n', "at least 16"),
        ("[sites.shop]\nstats_token = 1234567890123456789\n", "must be a string"),
        ('[sites.shop]\nshare_token = "short"\n', "share_token must be"),
    ],
)
def test_unusable_ids_and_tokens_are_refused_with_a_reason(table: str, message: str) -> None:
    with pytest.raises(SitesError, match=message):
        parse_sites(table)


def test_usable_ids_and_tokens_load() -> None:
    sites = parse_sites(
        f'[sites."shop.example-1_b"]\nstats_token = "{GOOD_TOKEN}"\nshare_token = "{GOOD_TOKEN}x"\n'
    )
    site = sites["shop.example-1_b"]
    assert site.stats_token == GOOD_TOKEN
    assert site.share_token == GOOD_TOKEN + "x"
