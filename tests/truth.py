"""The README's metric definitions in plain Python, and traffic with known answers.

The ground-truth tests compute every metric here, independently of the SQL
of ``pipelines/analysis/metrics``, from the very events they send (through the spool
in the unit tests, through the HTTP API in the integration tests).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson

GAP = dt.timedelta(minutes=30)


def rounded(value: float, digits: int) -> float:
    """Rounded as SQL rounds (half away from zero), not as Python's ``round`` (half to even)."""
    step = Decimal(1).scaleb(-digits)
    return float(Decimal(repr(value)).quantize(step, rounding=ROUND_HALF_UP))


def at(base: dt.date, day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """``hour:minute:second`` UTC, ``day`` days after ``base``."""
    return dt.datetime.combine(base + dt.timedelta(days=day), dt.time(hour, minute, second), dt.UTC)


@dataclass(frozen=True)
class Ev:
    visitor: int
    at: dt.datetime
    type: str = "pageview"
    path: str = "/"
    source: str = "direct"
    campaign: str | None = None
    device: str = "desktop"
    name: str | None = None

    def record(self, n: int) -> bytes:
        return (
            orjson.dumps(
                {
                    "k": "e",
                    "site": "shop",
                    "event_id": f"{n:08d}",
                    "type": self.type,
                    "received_at": int(self.at.timestamp() * 1000),
                    "url": f"https://shop.example{self.path}",
                    "path": self.path,
                    "source": self.source,
                    "referrer_host": None if self.source == "direct" else f"{self.source}.example",
                    "utm_campaign": self.campaign,
                    "device": self.device,
                    "name": self.name,
                    "consent": "implied",
                    "visitor_key": self.visitor,
                    "policy_version": "1",
                }
            )
            + b"\n"
        )


@dataclass
class Visit:
    visitor: int
    events: list[Ev]

    @property
    def day(self) -> dt.date:
        return self.events[0].at.date()

    @property
    def entry(self) -> Ev:
        views = [e for e in self.events if e.type == "pageview"]
        return views[0] if views else self.events[0]

    @property
    def pageviews(self) -> int:
        return sum(e.type == "pageview" for e in self.events)

    @property
    def bounced(self) -> bool:
        return self.pageviews == 1 and not any(e.type in ("click", "custom") for e in self.events)

    @property
    def duration(self) -> float:
        return (self.events[-1].at - self.events[0].at).total_seconds()


def visits_of(events: list[Ev]) -> list[Visit]:
    by_visitor: dict[int, list[Ev]] = defaultdict(list)
    for e in sorted((e for e in events if e.type != "open"), key=lambda e: e.at):
        by_visitor[e.visitor].append(e)
    out = []
    for visitor, evs in by_visitor.items():
        current = [evs[0]]
        for e in evs[1:]:
            if e.at - current[-1].at > GAP:
                out.append(Visit(visitor, current))
                current = [e]
            else:
                current.append(e)
        out.append(Visit(visitor, current))
    return out


def truth(
    events: list[Ev], start: dt.date, end: dt.date, visits: list[Visit] | None = None
) -> dict[str, Any]:
    """Every metric over the events of days start..end and the visits that start then."""
    site_events = [e for e in events if e.type != "open" and start <= e.at.date() <= end]
    chosen = [
        v for v in (visits if visits is not None else visits_of(events)) if start <= v.day <= end
    ]
    n = len(chosen)
    return {
        "visitors": len({e.visitor for e in site_events}),
        "visits": n,
        "pageviews": sum(e.type == "pageview" for e in site_events),
        "views_per_visit": rounded(sum(v.pageviews for v in chosen) / n, 2) if n else None,
        "bounce_rate": rounded(100.0 * sum(v.bounced for v in chosen) / n, 1) if n else None,
        "visit_duration": rounded(sum(v.duration for v in chosen) / n, 1) if n else None,
    }


def visit_truth(chosen: list[Visit]) -> dict[str, Any]:
    n = len(chosen)
    return {
        "visitors": len({v.visitor for v in chosen}),
        "visits": n,
        "pageviews": sum(v.pageviews for v in chosen),
        "views_per_visit": rounded(sum(v.pageviews for v in chosen) / n, 2),
        "bounce_rate": rounded(100.0 * sum(v.bounced for v in chosen) / n, 1),
        "visit_duration": rounded(sum(v.duration for v in chosen) / n, 1),
    }


def generated(seed: int, base: dt.date, *, email: bool = True) -> list[Ev]:
    """Three days of visitors with several visits a day, gaps long and short, visits across
    midnight, entries from several sources and pages, clicks, custom events, opens."""
    rng = random.Random(seed)  # noqa: S311 (reproducible traffic, not secrets)
    events = []
    for visitor in range(1, 80):
        device = rng.choice(["desktop", "mobile", "tablet"])
        t = at(base, 0, 0) + dt.timedelta(minutes=rng.randrange(-120, 3 * 24 * 60))
        for _ in range(rng.randrange(1, 4)):
            source = rng.choice(["direct", "search", "social", "email", "referral"])
            campaign = rng.choice([None, "nov", "dec"]) if source == "email" else None
            for n in range(rng.randrange(1, 6)):
                path = rng.choice(["/", "/pricing", "/blog", "/docs"])
                events.append(
                    Ev(visitor, t, path=path, source=source, campaign=campaign, device=device)
                )
                if rng.random() < 0.3:
                    kind = rng.choice(["click", "custom", "engagement", "scroll"])
                    events.append(
                        Ev(
                            visitor,
                            t + dt.timedelta(seconds=20),
                            type=kind,
                            path=path,
                            device=device,
                        )
                    )
                # no two events of a visitor at the same instant: their order is the order sent
                t += (
                    dt.timedelta(minutes=rng.choice([1, 5, 29, 30, 31, 45]))
                    if n
                    else dt.timedelta(seconds=1)
                )
            if email and rng.random() < 0.2:
                campaign = rng.choice(["nov", "dec"])
                events.append(Ev(visitor, t, type="open", source="email", campaign=campaign))
                if rng.random() < 0.5:
                    link = t + dt.timedelta(minutes=rng.choice([1, 40]))
                    events.append(
                        Ev(visitor, link, type="click", source="email", campaign=campaign)
                    )
            elif email and rng.random() < 0.05:  # a click from a reader whose open was not seen
                events.append(Ev(visitor, t, type="click", source="email", campaign="nov"))
            t += dt.timedelta(minutes=rng.choice([31, 90, 600]))
    return events


def email_truth(events: list[Ev], start: dt.date, end: dt.date) -> dict[str, dict[str, Any]]:
    readers: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for e in events:
        wanted = e.type in ("open", "click") and e.source == "email" and e.campaign
        if wanted and e.campaign and start <= e.at.date() <= end:
            readers[e.campaign][e.visitor].add(e.type)
    out = {}
    for campaign, by_reader in readers.items():
        opened = {r for r, kinds in by_reader.items() if "open" in kinds}
        clicked = {r for r, kinds in by_reader.items() if "click" in kinds}
        out[campaign] = {
            "opens": len(opened),
            "clicks": len(clicked),
            "openers_who_clicked": len(opened & clicked),
            "click_to_open": rounded(100.0 * len(opened & clicked) / len(opened), 1)
            if opened
            else None,
        }
    return out


def funnel_truth(events: list[Ev], steps: list[Any], start: dt.date, end: dt.date) -> list[int]:
    """Visits starting in the period that reached each step in order within the visit."""
    reached = [0] * len(steps)
    for visit in visits_of(events):
        if not start <= visit.day <= end:
            continue
        step = 0
        for e in visit.events:
            if step < len(steps) and steps[step](e):
                reached[step] += 1
                step += 1
    return reached


def viewed(match: Any) -> Any:
    """A funnel step of the truth: a page view whose path ``match`` accepts."""
    return lambda e: e.type == "pageview" and match(e.path)


# The funnel the ground-truth tests define as goals Blog ("/b*"), Docs, Pricing.
READ_THEN_BUY = (
    viewed(lambda p: p.startswith("/b")),
    viewed(lambda p: p == "/docs"),
    viewed(lambda p: p == "/pricing"),
)
