"""Ground truth through the real HTTP API: traffic with known answers, every surface equal.

Three days of generated visits (``tests/truth.py``: gaps of 29, 30 and 31
minutes, visits across midnight, several visits a day, clicks, custom events,
engagement) are sent to a real collector, one event per request, dated by
``ts`` (``--backfill``), under granted consent with a ``visitor_id`` per
person, to a site with ``k = 1``. The Stats API, the report's CSV and Parquet
and the notebooks' tables must then equal the truth computed in Python from
the same events, exactly. E-mail opens and ``/r`` clicks are dated on arrival,
so they cannot be sent into the past; ``tests/unit/test_metrics_truth.py``
holds those definitions.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
import requests

from pipelines.analysis.notebooks import query
from pipelines.analysis.stats import DEFAULT_AGGREGATE
from tests import patience
from tests.integration.server import Server, read_csv, run_cli
from tests.truth import (
    READ_THEN_BUY,
    Ev,
    Visit,
    funnel_truth,
    generated,
    rounded,
    truth,
    visit_truth,
    visits_of,
)

UA = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/131.0.0.0 Safari/537.36"
}
TOKEN = "truth-token-0123456789"
SITES = f"""\
[sites.truth]
origins = ["https://truth.example"]
redirect_hosts = ["truth.example"]
stats_token = "{TOKEN}"
k = 1
goals = [
  {{ name = "Pricing", page = "/pricing" }},
  {{ name = "Blog", page = "/b*" }},
  {{ name = "Docs", page = "/docs" }},
]
funnels = [{{ name = "Read then buy", steps = ["Blog", "Docs", "Pricing"] }}]
"""
REFERRERS = {
    "search": "https://www.google.com/",
    "social": "https://t.co/x1",
    "referral": "https://blog.example.org/review",
}
# (reader, campaign, opens, clicks): readers open more than once, click more than once,
# click without an open that was seen, open and never click.
READERS = (
    (1, "nov", 2, 1),
    (2, "nov", 1, 2),
    (3, "nov", 1, 0),
    (4, "nov", 0, 1),
    (5, "dec", 3, 1),
    (6, "dec", 1, 0),
)
EMAIL_TRUTH = {
    "nov": {"opens": 3, "clicks": 3, "openers_who_clicked": 2, "click_to_open": 66.7},
    "dec": {"opens": 2, "clicks": 1, "openers_who_clicked": 1, "click_to_open": 50.0},
}
METRIC_NAMES = DEFAULT_AGGREGATE


def payload(e: Ev) -> dict[str, Any]:
    url = f"https://truth.example{e.path}"
    if e.source == "email":
        url += "?utm_source=newsletter&utm_medium=email"
        url += f"&utm_campaign={e.campaign}" if e.campaign else ""
    body: dict[str, Any] = {
        "site": "truth",
        "type": e.type,
        "url": url,
        "ts": int(e.at.timestamp() * 1000),
        "consent": "granted",
        "visitor_id": f"person-{e.visitor}",
    }
    if e.source in REFERRERS:
        body["referrer"] = REFERRERS[e.source]
    if e.type == "custom":
        body["name"] = "signup"
    if e.type == "click":
        body["target"] = {"tag": "a", "href": "https://partner.example/", "text": "Partner"}
    if e.type in ("engagement", "scroll"):
        body["depth"] = 50
    return body


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("truth")
    (root / "sites.toml").write_text(SITES)
    base = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=10)
    events = generated(11, base, email=False)
    server = Server(root, env_overrides={"CLEARCOUNT_BACKFILL": "1"}).start()
    session = requests.Session()
    for e in events:
        response = session.post(
            server.url + "/api/event", json=payload(e), headers=UA, timeout=patience.HTTP_S
        )
        assert response.status_code == 202, response.text
    # E-mail readers, each from an address of their own, dated on arrival (today): who
    # opened which campaign how often, and who followed its link.
    for reader, campaign, opens, clicks in READERS:
        headers = {**UA, "X-Forwarded-For": f"198.51.100.{reader}"}
        for _ in range(opens):
            got = session.get(
                server.url + "/api/pixel.gif",
                params={"site": "truth", "c": campaign},
                headers=headers,
                timeout=patience.HTTP_S,
            )
            assert got.status_code == 200
        for _ in range(clicks):
            got = session.get(
                server.url + "/r",
                params={"site": "truth", "to": "https://truth.example/", "c": campaign},
                headers=headers,
                allow_redirects=False,
                timeout=patience.HTTP_S,
            )
            assert got.status_code == 302
    mail = sum(opens + clicks for _, _, opens, clicks in READERS)
    assert server.wait_loaded("events", len(events) + mail) == len(events) + mail
    yield server, base, events
    server.stop()


def api(server: Server, endpoint: str, **params: str) -> Any:
    response = requests.get(
        f"{server.url}/api/stats/{endpoint}",
        params={"site": "truth", **params},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=patience.HTTP_S,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_stats_api_equals_the_truth(sent: Any) -> None:
    server, base, events = sent
    visits = visits_of(events)
    for first, last in ((0, 0), (1, 1), (0, 2), (-1, 3)):
        start, end = base + dt.timedelta(days=first), base + dt.timedelta(days=last)
        results = api(server, "aggregate", **{"from": str(start), "to": str(end)})["results"]
        assert results == truth(events, start, end, visits), (start, end)
    start, end = base - dt.timedelta(days=1), base + dt.timedelta(days=3)
    days = api(
        server, "timeseries", metrics=",".join(METRIC_NAMES), **{"from": str(start), "to": str(end)}
    )
    for row in days["results"]:
        day = dt.date.fromisoformat(row["date"])
        assert {n: row[n] for n in METRIC_NAMES} == truth(events, day, day, visits), day
    # breakdowns of the whole range, by entry source and pages
    start, end = base, base + dt.timedelta(days=2)
    chosen = [v for v in visits if start <= v.day <= end]
    for prop, value_of in (
        ("source", lambda v: v.entry.source),
        ("entry_path", lambda v: v.entry.path),
        ("exit_path", lambda v: [e.path for e in v.events if e.type == "pageview"][-1]),
    ):
        groups: dict[Any, list[Visit]] = defaultdict(list)
        for v in chosen:
            groups[value_of(v)].append(v)
        rows = api(server, "breakdown", property=prop, **{"from": str(start), "to": str(end)})
        assert {r.pop("value"): r for r in rows["results"]} == {
            k: visit_truth(vs) for k, vs in groups.items()
        }, prop


def test_goals_and_funnels_equal_the_truth(sent: Any) -> None:
    server, base, events = sent
    start, end = base, base + dt.timedelta(days=2)
    body = api(server, "goals", **{"from": str(start), "to": str(end)})
    views = [e for e in events if e.type == "pageview" and start <= e.at.date() <= end]
    everyone = len({e.visitor for e in events if start <= e.at.date() <= end})
    for row, matches in zip(
        body["results"],
        (lambda p: p == "/pricing", lambda p: p.startswith("/b"), lambda p: p == "/docs"),
        strict=True,
    ):
        hits = [e for e in views if matches(e.path)]
        visitors = len({e.visitor for e in hits})
        assert (row["visitors"], row["conversions"]) == (visitors, len(hits))
        assert row["conversion_rate"] == rounded(100 * visitors / everyone, 1)
    (funnel,) = body["funnels"]
    expected = funnel_truth(events, list(READ_THEN_BUY), start, end)
    assert [s["visits"] for s in funnel["steps"]] == expected


def report(server: Server, start: dt.date, end: dt.date, out: Path) -> None:
    """``clearcount report`` of the truth site for these days, into ``out``."""
    result = run_cli(
        "report",
        "--site",
        "truth",
        "--from",
        str(start),
        "--to",
        str(end),
        "--out",
        str(out),
        data_dir=server.data_dir,
        sites=server.root / "sites.toml",
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_report_and_the_notebooks_equal_the_truth(sent: Any, tmp_path: Path) -> None:
    server, base, events = sent
    start, end = base - dt.timedelta(days=1), base + dt.timedelta(days=3)
    out = tmp_path / "report"
    report(server, start, end, out)
    expected = truth(events, start, end)
    (overview,) = read_csv(out / "overview.csv")
    assert {n: float(overview[n]) for n in METRIC_NAMES} == expected
    parquet = pq.read_table(out / "overview.parquet").to_pylist()[0]
    assert {n: parquet[n] for n in METRIC_NAMES} == expected
    visits = visits_of(events)
    for row in read_csv(out / "daily.csv"):
        day = dt.date.fromisoformat(row["date"])
        want = truth(events, day, day, visits)
        assert {n: int(row[n]) for n in ("visitors", "visits", "pageviews")} == {
            n: want[n] for n in ("visitors", "visits", "pageviews")
        }
    chosen = [v for v in visits if start <= v.day <= end]
    by_source: dict[str, list[Visit]] = defaultdict(list)
    for v in chosen:
        by_source[v.entry.source].append(v)
    for row in read_csv(out / "sources.csv"):
        want = visit_truth(by_source[row["source"]])
        assert (int(row["visitors"]), int(row["visits"])) == (want["visitors"], want["visits"])
        assert float(row["bounce_rate"]) == want["bounce_rate"]
    # the notebooks' tables, over every day the lake holds
    con = duckdb.connect(str(server.data_dir / "clearcount.duckdb"), read_only=True)
    daily = query(con, "daily_traffic", site="truth")
    today = dt.datetime.now(dt.UTC).date()
    clickers = len({reader for reader, _, _, clicks in READERS if clicks})
    for _, row in daily.iterrows():
        day = row["date"].date() if hasattr(row["date"], "date") else row["date"]
        if day == today:
            # a reader following a campaign's link visits the site: one visit each (the
            # opens, fetched by mail clients, are not visits), no page view sent
            assert (row["visitors"], row["visits"], row["pageviews"]) == (clickers, clickers, 0)
            continue
        want = truth(events, day, day, visits)
        assert (row["visitors"], row["visits"], row["pageviews"]) == (
            want["visitors"],
            want["visits"],
            want["pageviews"],
        ), day
    campaigns = query(con, "campaigns", site="truth").set_index("campaign")
    assert {c: dict(row) for c, row in campaigns.iterrows()} == EMAIL_TRUTH
    pages = query(con, "top_pages", site="truth").set_index("path")
    views = [e for e in events if e.type == "pageview"]
    for path, row in pages.iterrows():
        hits = [e for e in views if e.path == path]
        assert (row["pageviews"], row["visitors"]) == (len(hits), len({e.visitor for e in hits}))
    con.close()


def test_the_reports_goals_funnels_and_campaigns_equal_the_truth(sent: Any, tmp_path: Path) -> None:
    server, base, _ = sent
    today = dt.datetime.now(dt.UTC).date()
    start, end = base, base + dt.timedelta(days=2)
    out = tmp_path / "report"
    report(server, start, end, out)
    api_goals = api(server, "goals", **{"from": str(start), "to": str(end)})
    report_goals = read_csv(out / "goals.csv")
    assert [r["goal"] for r in report_goals] == ["Pricing", "Blog", "Docs"]
    for row, want in zip(report_goals, api_goals["results"], strict=True):
        assert (int(row["visitors"]), int(row["conversions"])) == (
            want["visitors"],
            want["conversions"],
        )
        assert float(row["conversion_rate"]) == want["conversion_rate"]
    steps = read_csv(out / "funnels.csv")
    assert [int(s["visits"]) for s in steps] == [
        s["visits"] for s in api_goals["funnels"][0]["steps"]
    ]
    # the e-mail readers arrived today
    mail_out = tmp_path / "mail"
    report(server, today, today, mail_out)
    rows = {
        r.pop("campaign"): {k: float(v) if "." in v else int(v) for k, v in r.items()}
        for r in read_csv(mail_out / "email_campaigns.csv")
    }
    assert rows == EMAIL_TRUTH
    parquet = {
        r.pop("campaign"): r
        for r in pq.read_table(mail_out / "email_campaigns.parquet").to_pylist()
    }
    assert {
        c: {k: v for k, v in r.items() if k != "suppressed"} for c, r in parquet.items()
    } == EMAIL_TRUTH
