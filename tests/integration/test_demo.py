"""clearcount demo against a real collector produces the mix it promises."""

from __future__ import annotations

from pathlib import Path

import duckdb

from tests.integration.server import copy_demo


def test_demo_traffic_has_the_promised_mix(tmp_path: Path, demo_source: Path) -> None:
    data = copy_demo(demo_source, tmp_path)
    con = duckdb.connect(str(data / "clearcount.duckdb"), read_only=True)

    def one(sql: str) -> object:
        return con.execute(sql).fetchone()[0]  # type: ignore[index]

    stored = one("SELECT count(*) FROM events")
    denied = one("SELECT sum(count) FROM denied_counts")
    bots = one("SELECT count(*) FROM quarantine")
    assert stored > 1500
    # Consent on the sites whose default is implied: implied about 55 %, granted about 30 %,
    # denied (by choice, DNT or GPC) the rest. The demo's docs site is opt-in: its implied
    # visitors are counted as denied there.
    mix = dict(
        con.execute(
            "SELECT consent, count(*) FROM events WHERE site IN ('demo', 'blog') GROUP BY 1"
        ).fetchall()
    )
    denied = one("SELECT sum(count) FROM denied_counts WHERE site IN ('demo', 'blog')")
    total = mix["implied"] + mix["granted"] + denied
    assert 0.40 < mix["implied"] / total < 0.65
    assert 0.18 < mix["granted"] / total < 0.40
    assert 0.10 < denied / total < 0.40
    assert set(one("SELECT list(DISTINCT reason) FROM denied_counts")) >= {
        "event",
        "gpc",
        "dnt",
        "site_default",
    }
    assert 0.02 < bots / (stored + bots) < 0.20
    assert set(one("SELECT list(DISTINCT drop_reason) FROM quarantine")) >= {"bot", "headless"}
    sources = set(one("SELECT list(DISTINCT source) FROM events"))
    assert sources == {"search", "social", "email", "referral", "direct"}
    assert set(one("SELECT list(DISTINCT device) FROM events")) >= {"desktop", "mobile", "tablet"}
    assert one("SELECT count(DISTINCT country) FROM events") >= 5
    assert one("SELECT count(DISTINCT site) FROM events") >= 2
    assert one("SELECT count(DISTINCT date) FROM events") >= 4
    assert one("SELECT count(*) FROM events WHERE type = 'open' AND source = 'email'") > 0
    assert one("SELECT count(*) FROM events WHERE type = 'click' AND utm_campaign IS NOT NULL") > 0
    assert one("SELECT count(DISTINCT type) FROM events") >= 5
    # Page popularity falls off like a power law: the top page outranks the tenth.
    top = con.execute(
        "SELECT count(*) FROM events WHERE type = 'pageview' GROUP BY path ORDER BY 1 DESC"
    ).fetchall()
    assert top[0][0] > 3 * top[min(9, len(top) - 1)][0]
    # Browsers and systems are a mix, not one system per browser.
    pairs = con.execute(
        "SELECT DISTINCT browser, os FROM events WHERE browser IS NOT NULL AND os IS NOT NULL"
    ).fetchall()
    assert len(pairs) >= 8
    assert len({b for b, _ in pairs}) < len(pairs)  # some browser runs on several systems
    # People come back: stable pseudonyms (granted consent) on several days, and several
    # visits a day; some visits read for an hour.
    assert (
        one(
            "SELECT count(*) FROM (SELECT visitor_key FROM events WHERE consent = 'granted' "
            "GROUP BY 1 HAVING count(DISTINCT date) >= 2)"
        )
        > 5
    )
    visits = con.execute(
        "WITH v AS (SELECT visitor_key, received_at, CASE WHEN received_at - lag(received_at) "
        "OVER (PARTITION BY visitor_key ORDER BY received_at) <= INTERVAL 30 MINUTE THEN 0 "
        "ELSE 1 END AS starts FROM events WHERE site = 'demo' AND type <> 'open') "
        "SELECT sum(starts), count(DISTINCT visitor_key) FROM v"
    ).fetchone()
    assert visits is not None
    assert visits[0] > 1.2 * visits[1]  # visitors have more than one visit
    assert (
        one(
            "WITH v AS (SELECT visitor_key, received_at, sum(CASE WHEN gap <= INTERVAL 30 MINUTE "
            "THEN 0 ELSE 1 END) OVER (PARTITION BY visitor_key ORDER BY received_at) AS n FROM "
            "(SELECT *, received_at - lag(received_at) OVER (PARTITION BY visitor_key ORDER BY "
            "received_at) AS gap FROM events WHERE type <> 'open')) "
            "SELECT count(*) FROM (SELECT max(received_at) - min(received_at) AS d FROM v "
            "GROUP BY visitor_key, n) WHERE d >= INTERVAL 1 HOUR"
        )
        > 0
    )


def test_demo_mail_opens_and_clicks_fall_on_the_demo_days_like_its_page_views(
    tmp_path: Path, demo_source: Path
) -> None:
    """Pixel opens and /r clicks carry their time as page views do: a week of demo traffic
    spreads its e-mail activity over the week, and none of it is 'now'."""
    data = copy_demo(demo_source, tmp_path)
    con = duckdb.connect(str(data / "clearcount.duckdb"), read_only=True)
    days = dict(
        con.execute(
            "SELECT kind, count(DISTINCT date) FROM ("
            "  SELECT date, CASE WHEN type = 'open' THEN 'open'"
            "    WHEN type = 'click' AND utm_campaign IS NOT NULL THEN 'mail click'"
            "    WHEN type = 'pageview' THEN 'pageview' END AS kind FROM events"
            ") WHERE kind IS NOT NULL GROUP BY kind"
        ).fetchall()
    )
    assert days["open"] >= days["pageview"] - 1
    assert days["mail click"] >= days["pageview"] - 1
    recent = con.execute(
        "SELECT count(*) FROM events WHERE (type = 'open' OR (type = 'click'"
        " AND utm_campaign IS NOT NULL)) AND received_at > now() - INTERVAL 30 MINUTE"
    ).fetchone()
    assert recent == (0,), "the realtime panel shows no e-mail activity once the demo ends"
