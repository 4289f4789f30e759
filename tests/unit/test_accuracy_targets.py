"""The accuracy targets met so far, held on the vendored public corpora (benchmarks/corpora/)."""

from __future__ import annotations

import pytest

from benchmarks.accuracy import mail_client_uas, referrer_agreement, share_flagged


@pytest.mark.parametrize("medium", ["search", "social", "email"])
def test_referrer_hosts_of_referer_parser_get_their_source(medium: str) -> None:
    hits, total, misses = referrer_agreement(medium)
    assert total > 100
    assert hits / total >= 0.95, misses


def test_every_mail_client_and_mail_image_proxy_is_counted() -> None:
    hits, total, misses = share_flagged(mail_client_uas(), flagged=False)
    assert total >= 20
    assert hits == total, misses
