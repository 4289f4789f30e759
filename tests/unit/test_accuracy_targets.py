"""The accuracy targets, held on the vendored public corpora (benchmarks/corpora/).

The same functions write the table in BENCHMARKS.md (``benchmarks/accuracy.py``);
these tests hold each figure at its target.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.accuracy import (
    AI_CATEGORIES,
    MONITOR_CATEGORIES,
    Pipeline,
    crawler_uas,
    dd_app_uas,
    dd_bots_of,
    dd_browser_uas,
    device_agreement,
    isbot_browser_uas,
    mail_client_uas,
    pii_figures,
    referrer_agreement,
    share_flagged,
    share_with_reason,
)


@pytest.mark.parametrize("medium", ["search", "social", "email"])
def test_referrer_hosts_of_referer_parser_get_their_source(medium: str) -> None:
    hits, total, misses = referrer_agreement(medium)
    assert total > 100
    assert hits / total >= 0.95, misses


def test_every_mail_client_and_mail_image_proxy_is_counted() -> None:
    hits, total, flagged = share_flagged(mail_client_uas(), flagged=False, show_flagged=True)
    assert total >= 20
    assert hits == total, flagged


def test_bot_recall_on_isbot_and_device_detector_crawlers() -> None:
    hits, total, misses = share_flagged(crawler_uas(), flagged=True)
    assert total > 1500
    assert hits / total >= 0.95, misses


@pytest.mark.parametrize(
    ("corpus", "most"),
    [(isbot_browser_uas, 0.01), (dd_browser_uas, 0.005), (dd_app_uas, 0.01)],
)
def test_few_browsers_and_apps_are_flagged(corpus: object, most: float) -> None:
    assert callable(corpus)
    flagged, total, examples = share_flagged(corpus(), flagged=True, show_flagged=True)
    assert total > 150
    assert flagged / total <= most, examples


@pytest.mark.parametrize(
    ("categories", "reason"), [(AI_CATEGORIES, "ai_agent"), (MONITOR_CATEGORIES, "monitor")]
)
def test_ai_bots_and_monitors_carry_their_reason(categories: tuple[str, ...], reason: str) -> None:
    hits, total, misses = share_with_reason(dd_bots_of(categories), reason)
    assert total > 50
    assert hits / total >= 0.95, misses


def test_device_class_agrees_with_device_detector() -> None:
    hits, total, misses = device_agreement()
    assert total > 1000
    assert hits / total >= 0.95, misses


def test_no_pii_is_recoverable_and_look_alikes_are_kept(tmp_path: Path) -> None:
    leaks, benign = pii_figures(Pipeline(tmp_path))
    for figure in leaks:
        assert figure.total >= 60, figure.name
        assert figure.hits == 0, (figure.name, figure.misses)
    assert benign.total >= 60
    assert benign.hits / benign.total <= 0.02, benign.misses
