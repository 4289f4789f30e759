"""Enrichment: device classes, bot verdicts and traffic sources."""

from __future__ import annotations

from typing import Any

import pytest

from service.ingest.enrich import MAX_UTM, utm_fields
from service.ingest.event import DropReason, Event
from service.ingest.referrers import classify_source
from service.ingest.useragent import classify_user_agent
from tests.conftest import client, make_site, run_one

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
IPAD = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
ANDROID_TABLET = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.mark.parametrize(
    ("ua", "device", "bot"),
    [
        (IPHONE, "mobile", None),
        (IPAD, "tablet", None),
        (ANDROID_TABLET, "tablet", None),
        (HEADLESS, "desktop", DropReason.HEADLESS),
        (GOOGLEBOT, None, DropReason.BOT),
        ("curl/8.5.0", None, DropReason.AUTOMATION),
        ("python-requests/2.32", None, DropReason.AUTOMATION),
        ("", None, DropReason.BOT),
        # Mail clients and mail image proxies fetching the pixel: readers, never bots.
        (
            "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)",
            "email client",
            None,
        ),
        (
            "Mozilla/4.0 (compatible; ms-office; MSOffice 16) Microsoft Outlook 16.0.5",
            "email client",
            None,
        ),
        ("Outlook-iOS/723.4027091.prod.iphone (4.58.0)", "email client", None),
        (
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
            "email client",
            None,
        ),
        (
            "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
            "email client",
            None,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0",
            "email client",
            None,
        ),
        ("Mail/3826.400.131.1.6 CFNetwork/1568.300.101 Darwin/24.2.0", "email client", None),
    ],
)
def test_user_agent_classes(ua: str, device: str | None, bot: DropReason | None) -> None:
    traits = classify_user_agent(ua)
    assert (traits.device, traits.bot_reason) == (device, bot)


@pytest.mark.parametrize(
    ("referrer_host", "utm", "source"),
    [
        (None, {}, "direct"),
        ("shop.example", {}, "direct"),
        ("www.google.com", {}, "search"),
        ("www.google.co.uk", {}, "search"),
        ("duckduckgo.com", {}, "search"),
        ("t.co", {}, "social"),
        ("l.facebook.com", {}, "social"),
        ("news.ycombinator.com", {}, "social"),
        ("mail.google.com", {}, "email"),
        ("outlook.live.com", {}, "email"),
        ("blog.example.org", {}, "referral"),
        (None, {"utm_medium": "email"}, "email"),
        (None, {"utm_medium": "cpc"}, "search"),
        ("blog.example.org", {"utm_medium": "social"}, "social"),
        # From Snowplow's referer-parser database: hosts the hand lists missed or misread.
        ("search.aol.com", {}, "search"),
        ("search.yahoo.co.jp", {}, "search"),
        ("ricerca.virgilio.it", {}, "search"),
        ("szukaj.onet.pl", {}, "search"),
        ("coccoc.com", {}, "search"),
        ("go.mail.ru", {}, "search"),  # the search engine, although mail.ru hosts webmail
        ("ok.ru", {}, "social"),
        ("vimeo.com", {}, "social"),
        ("threads.com", {}, "social"),
        ("com.facebook.katana", {}, "social"),  # android-app://com.facebook.katana/
        ("com.aol.mobile.aolapp", {}, "email"),
        ("support.google.com", {}, "referral"),  # Google, but not its search
        ("chatgpt.com", {}, "referral"),
    ],
)
def test_classify_source(referrer_host: str | None, utm: dict[str, str], source: str) -> None:
    assert classify_source(referrer_host, "shop.example", utm) == source


@pytest.mark.parametrize(
    ("ua", "referrer", "table", "reason"),
    [
        (HEADLESS, None, "quarantine", "headless"),
        (GOOGLEBOT, None, "quarantine", "bot"),
        (IPHONE, "https://spam.example/offer", "quarantine", "referrer_spam"),
        (IPHONE, "https://www.google.com/", "events", None),
    ],
)
def test_bots_go_to_quarantine_with_their_reason(
    make_ctx: Any, ua: str, referrer: str | None, table: str, reason: str | None
) -> None:
    ctx = make_ctx(make_site(spam_referrers=("spam.example",)))
    payload = {"site": "shop", "url": "https://shop.example/"}
    if referrer:
        payload["referrer"] = referrer
    outcome = run_one(ctx, payload, client(ua=ua))
    assert isinstance(outcome, Event)
    assert outcome.row is not None
    assert outcome.table == table
    assert outcome.row.get("drop_reason") == reason


def test_utm_fields_and_country(make_ctx: Any) -> None:
    payload = {
        "site": "shop",
        "url": "https://shop.example/?utm_source=nl&utm_medium=email&utm_campaign=nov",
    }
    outcome = run_one(make_ctx(), payload, client("81.2.69.142", ua=IPHONE))
    assert isinstance(outcome, Event)
    assert outcome.row is not None
    row = outcome.row
    assert (row["utm_source"], row["utm_medium"], row["utm_campaign"]) == ("nl", "email", "nov")
    assert (row["source"], row["country"], row["device"], row["os"]) == (
        "email",
        "GB",
        "mobile",
        "iOS",
    )


@pytest.mark.parametrize(
    ("url", "override"),
    [
        ("https://shop.example/?utm_campaign=" + "x" * 190 + "jane.doe%40example.org", None),
        ("https://shop.example/?utm_source=" + "y" * 195 + "%2B44%2020%207946%200958", None),
        ("https://shop.example/", "z" * 190 + "jane.doe@example.org"),
    ],
    ids=["e-mail across the limit", "phone across the limit", "campaign override"],
)
def test_utm_values_are_redacted_before_they_are_cut(url: str, override: str | None) -> None:
    utm = utm_fields(url, override)
    stored = " ".join(utm.values())
    assert "jane" not in stored
    assert "7946" not in stored
    assert all(len(v) <= MAX_UTM for v in utm.values())
