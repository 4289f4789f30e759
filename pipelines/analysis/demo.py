"""clearcount demo: realistic synthetic traffic through the collector's real HTTP API.

Visitors arrive from search, social, e-mail campaigns (opens through the
pixel, clicks through /r, only after an open), other sites or directly;
browse a few pages of power-law popularity (a few read for an hour or more);
click, scroll and leave; a third of visits are by people who came before,
the same day or later. Browsers and systems are drawn from a realistic mix,
versions per visitor. A share carries DNT or GPC,
a share are bots, and consent follows a configurable mix. Timestamps spread
over the days asked for, which the collector honours only in backfill mode.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
import requests

from service.sites import Site

CONSENT_MIX = (("implied", 0.55), ("granted", 0.30), ("denied", 0.15))
OPT_OUT_SHARE = 0.05  # DNT or GPC
BOT_SHARE = 0.08

# People's browsers: (share, User-Agent template, screen widths). Versions are drawn per
# visitor, so one browser runs on several systems and one system carries several browsers,
# as on a real site; Android Chrome sends the reduced UA ("Android 10; K").
CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0"
BROWSERS: tuple[tuple[float, str, tuple[int, ...]], ...] = (
    (
        28,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) " + CHROME + " Safari/537.36",
        (1366, 1536, 1920),
    ),
    (
        6,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) " + CHROME + " Safari/537.36 Edg/{chrome}.0.0.0",
        (1536, 1920),
    ),
    (
        4,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{firefox}.0) Gecko/20100101 Firefox/{firefox}.0",
        (1536, 1920),
    ),
    (
        8,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) " + CHROME + " Safari/537.36",
        (1440, 1512, 1728),
    ),
    (
        8,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{safari} Safari/605.1.15",
        (1440, 1512),
    ),
    (
        2,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{firefox}.0) Gecko/20100101 Firefox/{firefox}.0",
        (1440,),
    ),
    (2, "Mozilla/5.0 (X11; Linux x86_64) " + CHROME + " Safari/537.36", (1920,)),
    (
        1,
        "Mozilla/5.0 (X11; Linux x86_64; rv:{firefox}.0) Gecko/20100101 Firefox/{firefox}.0",
        (1920,),
    ),
    (
        18,
        "Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{safari} Mobile/15E148 Safari/604.1",
        (375, 390, 393, 430),
    ),
    (
        2,
        "Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/{chrome}.0.6778.73 Mobile/15E148 Safari/604.1",
        (390, 393),
    ),
    (13, "Mozilla/5.0 (Linux; Android 10; K) " + CHROME + " Mobile Safari/537.36", (360, 384, 412)),
    (
        4,
        "Mozilla/5.0 (Linux; Android {android}; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        (360, 384),
    ),
    (
        4,
        "Mozilla/5.0 (iPad; CPU OS {ios} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{safari} Mobile/15E148 Safari/604.1",
        (820, 1024),
    ),
    (2, "Mozilla/5.0 (Linux; Android 10; K) " + CHROME + " Safari/537.36", (800, 1280)),
)
VERSIONS = {
    "chrome": ("128", "129", "130", "131", "132"),
    "firefox": ("131", "132", "133", "134"),
    "safari": ("17.6", "18.0", "18.1", "18.2"),
    "ios": ("17_6", "18_0", "18_1", "18_2"),
    "android": ("13", "14", "15"),
}
RETURNING_SHARE = 0.35  # visits by someone who came before (on this site)
LONG_VISIT_SHARE = 0.08  # visits that read for an hour or more, a page every few minutes


def _browser(rng: random.Random) -> tuple[str, int]:
    """A person's User-Agent and screen width, drawn from ``BROWSERS``."""
    _, template, widths = rng.choices(BROWSERS, [b[0] for b in BROWSERS])[0]
    versions = {name: rng.choice(choices) for name, choices in VERSIONS.items()}
    return template.format(**versions), rng.choice(widths)


BOTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "curl/8.5.0",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
)
# Public addresses whose registration country differs: the collector looks them up.
ADDRESSES = (
    "81.2.69.{n}",
    "8.8.{n}.4",
    "1.1.{n}.1",
    "200.160.{n}.10",
    "41.203.{n}.9",
    "103.21.{n}.5",
    "185.60.{n}.35",
    "2a00:1450:4001:{n:x}::5",
    "2001:4860:{n:x}::88",
    "2a03:2880:f1{n:02x}::1",
)
SEARCH = (
    "https://www.google.com/",
    "https://www.bing.com/search?q=shop",
    "https://duckduckgo.com/",
)
SOCIAL = ("https://t.co/x1", "https://l.facebook.com/l.php", "https://www.reddit.com/r/shopping/")
REFERRAL = ("https://blog.example.org/review", "https://news.example.net/best-of")
CAMPAIGNS = ("november-news", "black-friday", "welcome-series")
# An e-mail visit: the newsletter opened ten minutes before, its link followed just before.
EMAIL_OPEN_LEAD_S = 600
EMAIL_CLICK_LEAD_S = 3
SECTIONS = (
    "",
    "pricing",
    "about",
    "blog/launch",
    "blog/tips",
    "docs/start",
    "docs/api",
    "products/lamp",
    "products/chair",
    "products/desk",
    "contact",
    "careers",
)


@dataclass
class Plan:
    """What one run sent, by kind, for the caller to compare with the lake."""

    requests: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)


def _weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p[0] for p in pairs], [p[1] for p in pairs])[0]


def _page(rng: random.Random, origin: str) -> str:
    # Power-law popularity: rank r is chosen with weight 1/r.
    rank = rng.choices(range(len(SECTIONS)), [1 / (r + 1) for r in range(len(SECTIONS))])[0]
    return f"{origin}/{SECTIONS[rank]}"


@dataclass
class Visit:
    site: Site
    origin: str
    ua: str
    width: int
    ip: str
    consent: str
    opt_out: str | None
    visitor_id: str | None
    start: dt.datetime


def _visits(
    rng: random.Random, sites: Mapping[str, Site], days: int, now: dt.datetime
) -> Iterator[Visit]:
    """Visits, a share of them by people who came before: the same address, browser,
    consent and id, later the same day (several visits a day) or on a later one."""
    n = 0
    earlier: list[Visit] = []
    latest = now - dt.timedelta(hours=4)  # a long visit lasts up to about three hours
    while True:
        n += 1
        if earlier and rng.random() < RETURNING_SHARE:
            last = rng.choice(earlier)
            gap = dt.timedelta(minutes=rng.choice((rng.uniform(35, 240), rng.uniform(600, 4000))))
            if last.start + gap < latest:
                again = dataclasses.replace(last, start=last.start + gap)
                earlier.append(again)
                yield again
                continue
        site = rng.choice(list(sites.values()))
        origin = site.origins[0] if site.origins else f"https://{site.id}.example"
        bot = rng.random() < BOT_SHARE
        ua, width = (rng.choice(BOTS), 1280) if bot else _browser(rng)
        consent = _weighted(rng, CONSENT_MIX)
        opt_out = rng.choice(("DNT", "Sec-GPC")) if rng.random() < OPT_OUT_SHARE else None
        start = now - dt.timedelta(seconds=rng.uniform(4 * 3600, max(days * 86400, 5 * 3600)))
        visit = Visit(
            site=site,
            origin=origin,
            ua=ua,
            width=width,
            ip=rng.choice(ADDRESSES).format(n=rng.randrange(1, 250)),
            consent=consent,
            opt_out=opt_out,
            visitor_id=f"demo-{rng.getrandbits(48):012x}" if consent == "granted" else None,
            start=start,
        )
        if not bot:
            earlier.append(visit)
        yield visit


REQUEST_TIMEOUT_S = 60.0  # generous: the collector may share a busy machine
RETRIED = frozenset({429, 503})
MAX_TRIES = 6
MAX_RETRY_WAIT_S = 30.0


def _retry_after(response: requests.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.1), MAX_RETRY_WAIT_S)
    except ValueError:
        return 1.0


class Sender:
    def __init__(self, base_url: str, plan: Plan) -> None:
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        self.plan = plan

    def headers(self, visit: Visit) -> dict[str, str]:
        headers = {
            "User-Agent": visit.ua,
            "X-Forwarded-For": visit.ip,
            "Content-Type": "text/plain",
        }
        if visit.site.origins:
            headers["Origin"] = visit.origin
        if visit.opt_out:
            headers[visit.opt_out] = "1"
        return headers

    def events(self, visit: Visit, batch: list[dict[str, Any]]) -> None:
        """POST one batch; a 429 or 503 is waited out (Retry-After) a few times, as the beacon does."""
        for _ in range(MAX_TRIES):
            response = self.session.post(
                self.base + "/api/event",
                data=orjson.dumps(batch),
                headers=self.headers(visit),
                timeout=REQUEST_TIMEOUT_S,
            )
            if response.status_code not in RETRIED:
                break
            time.sleep(_retry_after(response))
        response.raise_for_status()
        self.plan.requests["event"] += 1
        for e in batch:
            self.plan.events[e["type"]] += 1

    def get(self, visit: Visit, path: str, params: dict[str, str]) -> None:
        headers = {
            k: v for k, v in self.headers(visit).items() if k not in ("Origin", "Content-Type")
        }
        self.session.get(
            f"{self.base}{path}?{urlencode(params)}",
            headers=headers,
            allow_redirects=False,
            timeout=REQUEST_TIMEOUT_S,
        )
        self.plan.requests[path] += 1


def _ms(at: dt.datetime) -> str:
    return str(int(at.timestamp() * 1000))


def _session(rng: random.Random, extra: random.Random, visit: Visit, sender: Sender) -> int:
    """One visit: entry with its source, a few pages, clicks, scroll; the events sent. The
    behaviour fields come from ``extra``, a generator of their own: the visits and events
    drawn from ``rng`` stay what they were before the fields existed."""
    source = rng.choices(("search", "social", "email", "referral", "direct"), (30, 15, 15, 10, 30))[
        0
    ]
    entry = _page(rng, visit.origin)
    referrer = {
        "search": rng.choice(SEARCH),
        "social": rng.choice(SOCIAL),
        "referral": rng.choice(REFERRAL),
    }.get(source)
    ts = visit.start
    if source == "email":
        # The open and the click a little before the visit they lead to, on its day: the
        # collector (in backfill mode) dates them by their ts, as it does the events.
        campaign = rng.choice(CAMPAIGNS)
        opened = visit.start - dt.timedelta(seconds=EMAIL_OPEN_LEAD_S)
        sender.get(
            visit, "/api/pixel.gif", {"site": visit.site.id, "c": campaign, "ts": _ms(opened)}
        )
        if rng.random() < 0.6 and visit.site.redirect_hosts:
            target = f"https://{visit.site.redirect_hosts[0]}/?utm_source=newsletter&utm_medium=email&utm_campaign={campaign}"
            clicked = visit.start - dt.timedelta(seconds=EMAIL_CLICK_LEAD_S)
            sender.get(
                visit,
                "/r",
                {"site": visit.site.id, "to": target, "c": campaign, "ts": _ms(clicked)},
            )
        entry += f"?utm_source=newsletter&utm_medium=email&utm_campaign={campaign}"
    sent = 0
    long_visit = rng.random() < LONG_VISIT_SHARE
    pages = rng.randint(6, 12) if long_visit else 1 + min(int(rng.expovariate(0.6)), 7)
    url = entry
    for i in range(pages):
        base: dict[str, Any] = {"site": visit.site.id, "url": url}
        if visit.consent != "implied":
            base["consent"] = visit.consent
        if visit.visitor_id:
            base["visitor_id"] = visit.visitor_id
        batch = [
            {
                **base,
                "type": "pageview",
                "ts": int(ts.timestamp() * 1000),
                "sw": visit.width,
                "sh": 900,
                **({"referrer": referrer} if i == 0 and referrer else {}),
            }
        ]
        ts += dt.timedelta(seconds=rng.uniform(5, 120))
        if rng.random() < 0.35:
            batch.append(
                {
                    **base,
                    "type": "click",
                    "name": "outbound",
                    "ts": int(ts.timestamp() * 1000),
                    "target": {
                        "tag": "a",
                        "href": "https://partner.example/offer",
                        "text": "Partner offer",
                    },
                    **_click_place(extra, visit.width),
                }
            )
        if rng.random() < 0.15:
            batch.append(
                {
                    **base,
                    "type": "custom",
                    "name": rng.choice(("signup", "add-to-cart")),
                    "props": {"plan": rng.choice(("basic", "pro"))},
                    "ts": int(ts.timestamp() * 1000),
                }
            )
        batch.append(
            {
                **base,
                "type": "engagement",
                "depth": rng.randint(10, 100),
                "engaged_ms": rng.randint(2_000, 180_000),
                "ts": int(ts.timestamp() * 1000),
                **_page_behaviour(extra, visit.width),
            }
        )
        sender.events(visit, batch)
        sent += len(batch)
        url = _page(rng, visit.origin)
        # a long visit reads for minutes on each page, never half an hour without an event
        ts += dt.timedelta(seconds=rng.uniform(240, 900) if long_visit else rng.uniform(1, 30))
    return sent


def _click_place(rng: random.Random, width: int) -> dict[str, Any]:
    """Where the partner link is clicked: in one of two places each layout puts it."""
    x, y = rng.choice(((725, 650), (175, 1950)) if width >= 1024 else ((525, 650), (525, 1350)))
    return {
        "x": min(1000, max(0, int(rng.gauss(x, 8)))),
        "y": max(0, int(rng.gauss(y, 20))),
        "vw": width,
        "selector": "main > a.partner" if y < 1000 else "footer > a.partner",
        "rage": rng.random() < 0.03,
    }


def _page_behaviour(rng: random.Random, width: int) -> dict[str, Any]:
    """A page view's hover grid (the cursor near the top and the middle) and web vitals,
    slower on phones."""
    cells: dict[tuple[int, int], int] = {}
    for _ in range(rng.randint(3, 25)):
        cell = (min(19, max(0, int(rng.gauss(9, 5)))), min(40, int(rng.expovariate(0.25))))
        cells[cell] = cells.get(cell, 0) + rng.randint(80, 4000)
    slow = 1.6 if width < 768 else 1.0
    return {
        "vw": width,
        "hover": [[col, row, ms] for (col, row), ms in cells.items()],
        "vitals": {
            "lcp": round(rng.lognormvariate(7.5, 0.45) * slow, 1),
            "inp": round(rng.lognormvariate(4.8, 0.6) * slow, 1),
            "cls": round(rng.expovariate(18), 4),
            "fcp": round(rng.lognormvariate(7.0, 0.4) * slow, 1),
            "ttfb": round(rng.lognormvariate(5.8, 0.5), 1),
        },
    }


def run_demo(
    base_url: str,
    sites: Mapping[str, Site],
    *,
    events: int,
    days: int,
    seed: int,
    now: dt.datetime,
    progress: bool = True,
) -> Plan:
    rng = random.Random(seed)
    # seeded by the seed alone (not by times, which move with ``now``): the same run each day
    extra = random.Random(f"{seed}|behaviour")
    plan = Plan()
    sender = Sender(base_url, plan)
    sent = 0
    visits = _visits(rng, sites, days, now)
    while sent < events:
        sent += _session(rng, extra, next(visits), sender)
        if progress:
            done = min(sent, events) * 30 // events
            sys.stderr.write(
                f"\r[{'#' * done}{'.' * (30 - done)}] {min(sent, events)}/{events} events"
            )
    if progress:
        sys.stderr.write("\n")
    return plan
