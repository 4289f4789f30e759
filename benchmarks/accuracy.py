"""Accuracy of classification and scrubbing on public corpora and a generated PII set.

Reads only ``benchmarks/corpora/`` (vendored fixture files of device-detector,
isbot and referer-parser; see its SOURCES.md) and writes one table to
BENCHMARKS.md: bot recall, real browsers wrongly flagged, mail clients
counted, device-class agreement, referrer-source agreement, PII recoverable
after scrubbing, benign strings wrongly redacted. Every figure runs the
collector's own code: ``classify_user_agent`` for User-Agents,
``classify_source`` for referrers, and the whole ingest pipeline (validate →
enrich → minimize, in memory) for PII, whose stored row is then searched.

Usage: python -m benchmarks.accuracy
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
import tempfile
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import ua_parser

from benchmarks.common import write_section
from service.ingest.bots import bot_reason
from service.ingest.event import Client, Context, Event
from service.ingest.mail_clients import mail_client
from service.ingest.pipeline import run
from service.ingest.referrers import classify_source
from service.ingest.useragent import classify_user_agent
from service.ingest.yaml_data import load_yaml
from service.privacy.keys import KeyStore
from service.settings import Settings
from service.sites import Site

CORPORA = Path(__file__).resolve().parent / "corpora"
DEVICE_FIXTURES = ("dd_desktop.yml", "dd_smartphone.yml", "dd_tablet.yml")
# Mail providers' image proxies, which fetch an e-mail's images (the pixel) for the reader.
MAIL_PROXY = re.compile(r"(mail|image|email) proxy", re.IGNORECASE)
MAIL_PROXY_UA = re.compile(r"(mail|image|email)proxy", re.IGNORECASE)
AI_CATEGORIES = ("AI Agent", "AI Assistant", "AI Data Scraper", "AI Search Crawler")
MONITOR_CATEGORIES = ("Site Monitor", "Network Monitor")
DEVICE_CLASS = {
    "desktop": "desktop",
    "smartphone": "mobile",
    "phablet": "mobile",
    "tablet": "tablet",
}


@functools.cache
def load(name: str) -> Any:
    return load_yaml((CORPORA / name).read_text(encoding="utf-8"))


@dataclass
class Figure:
    name: str
    target: str
    hits: int
    total: int
    misses: list[str]

    @property
    def pct(self) -> float:
        return 100 * self.hits / self.total if self.total else 0.0


# --- User-Agents ---------------------------------------------------------------------------


def crawler_uas() -> list[str]:
    """isbot's crawler list and device-detector's bots, less mail image proxies (not bots),
    known by the lists' own names for them or the proxy's name in the User-Agent."""
    isbot = [
        ua
        for name, uas in load("isbot_crawlers.yml").items()
        if not MAIL_PROXY.search(name)
        for ua in uas or ()
        if not MAIL_PROXY_UA.search(ua)
    ]
    dd = [
        b["user_agent"]
        for b in load("dd_bots.yml")
        if not MAIL_PROXY.search(str(b.get("bot", {}).get("name", "")))
    ]
    return sorted(set(isbot + dd))


def isbot_browser_uas() -> list[str]:
    groups = load("isbot_browsers.yml")
    return sorted(
        {ua for name, uas in groups.items() if not name.startswith("ZZZ") for ua in uas or ()}
    )


def dd_devices() -> Iterator[dict[str, Any]]:
    for name in DEVICE_FIXTURES:
        yield from load(name)


def dd_browser_uas() -> list[str]:
    """device-detector's device fixtures whose client is a browser."""
    return [
        d["user_agent"] for d in dd_devices() if (d.get("client") or {}).get("type") == "browser"
    ]


def mail_client_uas() -> list[str]:
    pim = [d["user_agent"] for d in dd_devices() if (d.get("client") or {}).get("type") == "pim"]
    proxies = [
        b["user_agent"]
        for b in load("dd_bots.yml")
        if MAIL_PROXY.search(str(b.get("bot", {}).get("name", "")))
    ]
    return sorted(set(pim + proxies))


def share_flagged(
    uas: Iterable[str], *, flagged: bool, show_flagged: bool = False
) -> tuple[int, int, list[str]]:
    """(matching, total, examples): matching = flagged as a bot (or, with ``flagged``
    False, not); examples of the flagged ones with ``show_flagged`` (a false-positive
    figure), else of the others (a recall figure)."""
    hits, total, examples = 0, 0, []
    for ua in uas:
        total += 1
        is_bot = classify_user_agent(ua).bot_reason is not None
        hits += is_bot == flagged
        if is_bot == show_flagged and len(examples) < 5:
            examples.append(ua[:90])
    return hits, total, examples


def dd_bots_of(categories: tuple[str, ...]) -> list[str]:
    """device-detector's bot fixtures whose bot is of one of these categories."""
    return sorted(
        {
            b["user_agent"]
            for b in load("dd_bots.yml")
            if str((b.get("bot") or {}).get("category", "")) in categories
        }
    )


def share_with_reason(uas: list[str], reason: str) -> tuple[int, int, list[str]]:
    """(quarantined with this reason, total, examples of other verdicts)."""
    hits, misses = 0, []
    for ua in uas:
        got = classify_user_agent(ua).bot_reason
        if got == reason:
            hits += 1
        elif len(misses) < 5:
            misses.append(f"{got}: {ua[:70]}")
    return hits, len(uas), misses


# Client types of device-detector's device fixtures that are not apps people use:
# browsers and mail clients have figures of their own, HTTP libraries are automation,
# and feed readers are counted as bots by isbot's lists and as clients by device-detector.
NOT_APPS = (None, "browser", "pim", "library", "feed reader")


def dd_app_uas() -> list[str]:
    """device-detector's device fixtures whose client is an app (Slack, Office, media
    players, mobile apps): people's software, never bots."""
    return sorted(
        {
            d["user_agent"]
            for d in dd_devices()
            if (d.get("client") or {}).get("type") not in NOT_APPS
        }
    )


def device_agreement() -> tuple[int, int, list[str]]:
    hits, total, misses = 0, 0, []
    for d in dd_devices():
        expected = DEVICE_CLASS.get((d.get("device") or {}).get("type", ""))
        if expected is None or (d.get("client") or {}).get("type") != "browser":
            continue
        total += 1
        got = classify_user_agent(d["user_agent"]).device
        if got == expected:
            hits += 1
        elif len(misses) < 5:
            misses.append(f"{expected} as {got}: {d['user_agent'][:70]}")
    return hits, total, misses


# --- Referrers -----------------------------------------------------------------------------


def referrer_agreement(medium: str) -> tuple[int, int, list[str]]:
    hits, total, misses = 0, 0, []
    for provider, spec in load("referers.yml")[medium].items():
        for domain in spec.get("domains", ()):
            host = domain.split("/", 1)[0]
            total += 1
            got = classify_source(host, "site.example", {})
            if got == medium:
                hits += 1
            elif len(misses) < 5:
                misses.append(f"{provider} {host} as {got}")
    return hits, total, misses


# --- PII -----------------------------------------------------------------------------------

PII = {
    "e-mail": [
        "jane.doe@example.org",
        "j.o'hara+news@mail.example.co.uk",
        "jané@exämple.org",
        "JANE.DOE@EXAMPLE.ORG",
        "jane\uff20example.org",  # a full-width at sign
    ],
    "phone": [
        "+1-674-447-2470x637",
        "+44 20 7946 0958",
        "(415) 555-0132",
        "+49 30 901820",
        "+33 1 23 45 67 89",
        "+1 (415) 555-0132 ext. 12",
        "030 90182055",
    ],
    "IBAN": ["DE50294028383047805221", "DE89 3704 0044 0532 0130 00", "GB29NWBK60161331926819"],
    "IPv4": ["203.0.113.91", "198.51.100.7"],
    "IPv6": ["2001:db8:85a3::8a2e:370:7334", "::ffff:203.0.113.91", "2a00:1450:4001:82a::200e"],
    "card": ["4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004"],
    "national id": ["078-05-1120", "078051120"],  # a US SSN, with its leading zero
    # The disguises of the second hostile round: (what is sent, what must not be recoverable).
    "e-mail in disguise": [
        ("jane\u200b.doe@example.org", "jane.doe@example.org"),
        ("jane.doe@exam\u00adple.org", "jane.doe@example.org"),
        ("jane.doe&#64;example.org", "jane.doe@example.org"),
        ("jane.doe&commat;example.org", "jane.doe@example.org"),
        ("jane.doe%u0040example.org", "jane.doe@example.org"),
        ('"jane doe"@example.org', "jane doe"),
        ("amFuZS5kb2VAZXhhbXBsZS5vcmc=", "jane.doe@example.org"),
    ],
    "phone in disguise": [
        ("415_555_0132", "4155550132"),
        ("415*555*0132", "4155550132"),
        ("415--555--0132", "4155550132"),
        ("415a555b0132", "4155550132"),
        ("KzEgNDE1IDU1NSAwMTMy", "4155550132"),  # base64 of "+1 415 555 0132"
    ],
    "IPv4, other forms": [
        ("0xcb.0.113.91", "0xcb.0.113.91"),
        ("0313.0.0161.0133", "0313.0.0161.0133"),
        ("0xcb00715b", "0xcb00715b"),
        ("203_0_113_91", "203_0_113_91"),
    ],
}
BENIGN = [
    "137.0.6260.42",
    "Chrome/120.0.6099.199",
    "2023-06-15 00:59",
    "2023-06-15 \u2013 2023-06-30",  # an en dash
    "15.06.2023",
    "06/15/2023 10:30",
    "logo@2x.png",
    "Home :: Shop",
    "v1.2.3",
    "10:30\u201311:45",
    "SKU-2024-0001",
    "chapter 12.4",
    "size 42",
    "2,499.00 EUR",
    "1,234,567 views",
    "(c) 2024",
    "ISO 9001:2015",
    "550e8400-e29b-41d4-a716-446655440000",
    "app.80462068f.js",
    "+5 points",
    "isbn 9780306406157",  # a book's number with its check digit
    "sizes 38, 39, 40, 41, 42",
    "app.5d41402abc4b2a76b9719d911017c592.js",
    "running-shoes-for-men",
    "AT&T deals",
]
ENCODINGS = {
    "plain": lambda v: v,
    "percent": lambda v: quote(v, safe=""),
    "double-percent": lambda v: quote(quote(v, safe=""), safe=""),
    "form (+ for space)": lambda v: quote_plus(v, safe=""),
}


def positions(value: str) -> dict[str, dict[str, Any]]:
    """The payload fields a value can arrive in, each as an event carrying it; a value
    of digits and separators also as a JSON number in ``props``."""
    page = "https://shop.example"
    numeric = re.sub(r"[\s().\-/+]", "", value)
    as_number = (
        {"props number": {"url": f"{page}/", "props": {"n": int(numeric)}}}
        if numeric.isascii() and numeric.isdigit()
        else {}
    )
    return as_number | {
        "url path": {"url": f"{page}/u/{value}"},
        "url query": {"url": f"{page}/?utm_campaign={value}"},
        "referrer": {"url": f"{page}/", "referrer": f"https://ref.example/p?q={value}"},
        "props value": {"url": f"{page}/", "props": {"note": value}},
        "props key": {"url": f"{page}/", "props": {value: "1"}},
        "click text": {
            "url": f"{page}/",
            "type": "click",
            "target": {"tag": "a", "text": f"Mail {value} now", "href": f"{page}/c?x={value}"},
        },
        "custom name": {"url": f"{page}/", "type": "custom", "name": value[:64]},
    }


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)
    elif value is not None:
        yield str(value)


def _decoded(text: str) -> str:
    for _ in range(5):
        decoded = unquote(text.replace("+", " "))
        if decoded == text:
            break
        text = decoded
    return text.lower()


def recoverable(secret: str, row: dict[str, Any]) -> bool:
    """Whether the stored row still gives the value away: as text, or as its digits."""
    needle = unicodedata.normalize("NFKC", secret).lower()
    digits = re.sub(r"\D", "", secret).lstrip("0")  # a JSON number loses leading zeros
    for text in _strings(row):
        plain = unicodedata.normalize("NFKC", _decoded(text))
        if needle in plain:
            return True
        if len(digits) >= 8 and digits in re.sub(r"\D", "", plain):
            return True
    return False


class Pipeline:
    """The collector's ingest stages in memory, on a throwaway key store."""

    def __init__(self, root: Path) -> None:
        site = Site(
            id="shop",
            origins=("https://shop.example",),
            query_allowlist=("utm_source", "utm_medium", "utm_campaign", "q"),
        )
        self.ctx = Context(
            settings=Settings(data_dir=root),
            sites={"shop": site},
            keys=KeyStore(root / "keys"),
            clock=lambda: dt.datetime.now(dt.UTC),
        )
        self.client = Client(
            ip="198.51.100.23",
            user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            received_at=dt.datetime.now(dt.UTC),
            dnt=False,
            gpc=False,
            origin=None,
        )

    def stored(self, fields: dict[str, Any]) -> dict[str, Any] | None:
        outcome = run({"site": "shop", **fields}, 0, self.client, self.ctx)
        return outcome.row if isinstance(outcome, Event) else None


def pii_figures(pipeline: Pipeline) -> tuple[list[Figure], Figure]:
    figures = []
    for kind, values in PII.items():
        leaked, total, misses = 0, 0, []
        for item, (enc_name, encode) in itertools.product(values, ENCODINGS.items()):
            value, secret = item if isinstance(item, tuple) else (item, item)
            for where, fields in positions(encode(value)).items():
                row = pipeline.stored(fields)
                if row is None:  # rejected outright: nothing stored, nothing recoverable
                    total += 1
                    continue
                total += 1
                if recoverable(secret, row):
                    leaked += 1
                    if len(misses) < 5:
                        misses.append(f"{value} {enc_name} in {where}")
        figures.append(Figure(f"{kind} recoverable after scrubbing", "0 %", leaked, total, misses))
    wrong, total, misses = 0, 0, []
    for value in BENIGN:
        for where, fields in positions(value).items():
            if where in ("props key", "custom name", "url path", "props number"):
                continue  # benign text is judged where free text goes
            row = pipeline.stored(fields)
            total += 1
            if row is not None and "[redacted]" in " ".join(_strings(row)):
                wrong += 1
                if len(misses) < 5:
                    misses.append(f"{value!r} in {where}")
    return figures, Figure("benign strings wrongly redacted", "<= 2 %", wrong, total, misses)


# --- Report --------------------------------------------------------------------------------


def measure() -> list[Figure]:
    figures = [
        Figure(
            "bot recall (isbot crawlers + device-detector bots)",
            ">= 95 %",
            *share_flagged(crawler_uas(), flagged=True),
        ),
        Figure(
            "isbot browsers flagged as bots",
            "<= 1 %",
            *share_flagged(isbot_browser_uas(), flagged=True, show_flagged=True),
        ),
        Figure(
            "device-detector browsers flagged as bots",
            "<= 0.5 %",
            *share_flagged(dd_browser_uas(), flagged=True, show_flagged=True),
        ),
        Figure(
            "device-detector apps (Slack, Office, players…) flagged as bots",
            "<= 1 %",
            *share_flagged(dd_app_uas(), flagged=True, show_flagged=True),
        ),
        Figure(
            "device-detector AI bots quarantined as ai_agent",
            ">= 95 %",
            *share_with_reason(dd_bots_of(AI_CATEGORIES), "ai_agent"),
        ),
        Figure(
            "device-detector site monitors quarantined as monitor",
            ">= 95 %",
            *share_with_reason(dd_bots_of(MONITOR_CATEGORIES), "monitor"),
        ),
        Figure(
            "mail clients and image proxies counted (not quarantined)",
            "100 %",
            *share_flagged(mail_client_uas(), flagged=False, show_flagged=True),
        ),
        Figure("device class agrees with device-detector", ">= 95 %", *device_agreement()),
        Figure("search referrer hosts -> search", ">= 95 %", *referrer_agreement("search")),
        Figure("social referrer hosts -> social", ">= 95 %", *referrer_agreement("social")),
        Figure("e-mail referrer hosts -> email", ">= 95 %", *referrer_agreement("email")),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        pii, benign = pii_figures(Pipeline(Path(tmp)))
    return [*figures, *pii, benign]


# --- Cost of a User-Agent seen for the first time ------------------------------------------


def _clear_caches() -> None:
    for cached in (classify_user_agent, bot_reason, mail_client):
        cached.cache_clear()


def _ms(samples: list[float], share: float) -> float:
    return 1000 * sorted(samples)[min(len(samples) - 1, int(share * len(samples)))]


def first_sight_costs() -> list[tuple[str, int, float, float, float]]:
    """(kind, UAs, median ms, p95 ms, median / ua-parser's own median) of classifying a
    User-Agent never seen before; every later sight is a cache hit. ua-parser alone, on
    the same UAs and also for the first time, is the baseline."""
    android = [ua for ua in dd_browser_uas() if "Android" in ua]
    kinds = {
        "browsers, not Android": [ua for ua in dd_browser_uas() if "Android" not in ua],
        "Android browsers": android,
        "crawlers": crawler_uas(),
    }
    rows = []
    for kind, uas in kinds.items():
        sample = uas[:: max(1, len(uas) // 300)]
        base, cost = [], []
        for ua in sample:
            start = time.perf_counter()
            ua_parser.parse(ua + " ")  # a string ua-parser has not seen either
            base.append(time.perf_counter() - start)
        _clear_caches()
        for ua in sample:
            start = time.perf_counter()
            classify_user_agent(ua)
            cost.append(time.perf_counter() - start)
        median = _ms(cost, 0.5)
        rows.append((kind, len(sample), median, _ms(cost, 0.95), median / _ms(base, 0.5)))
    return rows


def render(figures: list[Figure], now: dt.datetime) -> str:
    lines = [
        "## Accuracy (`benchmarks/accuracy.py`, run by `make bench`)",
        "",
        f"Measured {now:%Y-%m-%d %H:%M} UTC on the vendored corpora in `benchmarks/corpora/`",
        "(device-detector, isbot and referer-parser fixtures; see SOURCES.md) and a generated",
        "PII set (each value in every position and encoding, through the ingest pipeline).",
        "",
        "| figure | measured | of | target | examples of misses |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for f in figures:
        misses = "; ".join(m[:60].replace("|", "/") for m in f.misses[:3])
        lines.append(f"| {f.name} | {f.pct:.1f} % | {f.total:,} | {f.target} | {misses} |")
    lines += [
        "",
        "Classifying a User-Agent costs this the first time a worker sees it, and a cache",
        "lookup after (16,384 User-Agents per worker); ua-parser alone, on the same strings,",
        "is the baseline:",
        "",
        "| User-Agents seen for the first time | sampled | median ms | p95 ms | median / ua-parser |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for kind, n, median, p95, ratio in first_sight_costs():
        lines.append(f"| {kind} | {n} | {median:.2f} | {p95:.2f} | {ratio:.0f}x |")
    return "\n".join(lines)


def main() -> None:
    figures = measure()
    body = render(figures, dt.datetime.now(dt.UTC))
    print(body)
    write_section("accuracy", body)


if __name__ == "__main__":
    main()
