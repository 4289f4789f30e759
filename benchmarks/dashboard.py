"""The dashboard's 30-day view on a big lake: its own requests against bare SQL over raw events.

Visits are generated straight into the lake's ``events`` table: 1 to 12
events each (4 on average), seconds to minutes apart, a third of the visitors
coming back on other days, entries and sources by visit, country and device by
visitor. The sessions rollup is built from them as a loader builds it. Then, in the same run:

(a) every panel of the 30-day view (top metrics and the previous period, the
    daily series, every breakdown, the named tables, e-mail campaigns) as bare
    DuckDB SQL over the raw events: the metrics layer's raw-event queries,
    executed one after the other on one read-only connection (file cache warm);
(b) the dashboard's own request for the same view (``GET /dashboard/<site>``,
    which reads every panel through the Stats API's functions), cold (a fresh
    app and DuckDB instance, first request) and warm (median of the next three).

Usage: python -m benchmarks.dashboard [--rows 10000000] [--days 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import write_deltalake

from benchmarks.common import machine, write_section
from pipelines.analysis.metrics import (
    DIMENSIONS,
    NAMED_TABLES,
    aggregate_sql,
    breakdown_metrics,
    breakdown_sql,
    email_campaigns_sql,
    named_sql,
    params,
    timeseries_sql,
)
from pipelines.analysis.metrics.query import bind
from pipelines.lake import rollups
from pipelines.lake.tables import (
    PARTITION_BY,
    TABLE_SCHEMAS,
    WRITER,
    Lake,
    close_views,
    ensure_views,
)
from service.app import create_app
from service.dashboard.panels import PANELS, SERIES_METRICS, TOP_METRICS
from service.settings import Settings

SITE = "bench"
TOKEN = "bench-token-0123456789"  # noqa: S105 (a throwaway site of the benchmark)
SITES_TOML = f"""[sites.{SITE}]
origins = ["https://bench.example"]
stats_token = "{TOKEN}"
"""
# The view's breakdown panels and its named tables, as service/dashboard/panels.py has them.
PROPERTIES = tuple(spec.id for spec in PANELS if spec.id in DIMENSIONS)
TABLES = tuple(spec.id for spec in PANELS if spec.id in NAMED_TABLES)

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PATHS = np.array(["/", "/pricing", "/docs", "/blog", "/about"] + [f"/page/{i}" for i in range(195)])
SOURCES = np.array(["direct", "search", "social", "email", "referral"])
REFERRERS = np.array([None, "www.google.com", "t.co", None, "news.example"], dtype=object)
COUNTRIES = np.array(["US", "GB", "DE", "FR", "BR", "IN", "JP", "IE", "NL", "ES"])
BROWSERS = np.array(["Chrome", "Safari", "Firefox", "Edge", "Mobile Safari"])
DEVICES = np.array(["desktop", "mobile", "tablet"])
TYPES = np.array(["pageview", "engagement", "click", "custom", "scroll"])


def generate(data_dir: Path, rows: int, days: int, seed: int = 1) -> None:
    """About ``rows`` events of the site in visits over ``days`` days, one commit a day."""
    rng = np.random.default_rng(seed)
    visits = rows // 4
    visitors = max(visits * 2 // 3, 1)
    popularity = 1 / np.arange(1, len(PATHS) + 1)
    popularity /= popularity.sum()
    visitor = rng.integers(0, visitors, visits)
    length = np.minimum(rng.geometric(0.25, visits), 12)
    start_ms = int(START.timestamp() * 1000) + rng.integers(0, days * 86_400_000, visits)
    source = rng.integers(0, len(SOURCES), visits)
    owner = np.repeat(np.arange(visits), length)
    n = len(owner)
    first = np.r_[True, owner[1:] != owner[:-1]]
    gaps = np.where(first, 0, rng.integers(1_000, 600_000, n))
    at = start_ms[owner] + (np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first], length))
    kinds = TYPES[rng.choice(len(TYPES), n, p=[0.6, 0.2, 0.1, 0.05, 0.05])]
    kinds[first] = "pageview"
    key = visitor[owner].astype(np.int64) * 2_654_435_761 % (2**62)
    table = pa.table(
        {
            "event_id": pa.array(np.char.add("e", np.arange(n).astype(str))),
            "type": pa.array(kinds),
            "received_at": pa.array(at, pa.timestamp("ms", tz="UTC")),
            "path": pa.array(PATHS[rng.choice(len(PATHS), n, p=popularity)]),
            "referrer_host": pa.array(REFERRERS[source[owner]]),
            "source": pa.array(SOURCES[source[owner]]),
            "utm_campaign": pa.array(np.where(source[owner] == 3, "november", None)),
            "consent": pa.array(np.where(key % 3 == 0, "granted", "implied")),
            "visitor_key": pa.array(key, pa.int64()),
            "country": pa.array(COUNTRIES[key % len(COUNTRIES)]),
            "browser": pa.array(BROWSERS[key % len(BROWSERS)]),
            "os": pa.array(np.where(key % 2 == 0, "Windows", "iOS")),
            "device": pa.array(DEVICES[key % len(DEVICES)]),
            "name": pa.array(np.where(kinds == "custom", "signup", None)),
            "depth": pa.array(np.where(kinds == "scroll", rng.integers(0, 101, n), 0), pa.int16()),
            "engaged_ms": pa.array(rng.integers(0, 300_000, n), pa.int64()),
            "policy_version": pa.array(np.full(n, "1")),
            "site": pa.array(np.full(n, SITE)),
        }
    )
    table = table.append_column("date", pc.cast(table["received_at"], pa.date32()))
    schema = TABLE_SCHEMAS["events"]
    table = pa.table(
        {
            f.name: table[f.name] if f.name in table.column_names else pa.nulls(n, f.type)
            for f in schema
        }
    ).cast(schema)
    lake = Lake.of(data_dir)
    lake.ensure_tables()
    table = table.sort_by("received_at")
    for day in range(days + 1):
        date = (START + dt.timedelta(days=day)).date()
        part = table.filter(pc.equal(table["date"], pa.scalar(date, pa.date32())))
        if part.num_rows:
            write_deltalake(
                lake.uri("events"),
                part,
                mode="append",
                partition_by=PARTITION_BY,
                writer_properties=WRITER,
            )


def raw_statements(first: dt.date, last: dt.date) -> list[tuple[str, dict[str, object]]]:
    """Every panel's query over raw events, with its parameters (the benchmark's site has
    no goals, so the goals and funnels panels run no query)."""
    days = (last - first).days + 1
    before = params(SITE, first - dt.timedelta(days=days), first - dt.timedelta(days=1))
    now = params(SITE, first, last)
    out: list[tuple[str, dict[str, object]]] = [
        (aggregate_sql(TOP_METRICS), now),
        (aggregate_sql(TOP_METRICS), before),
        (timeseries_sql(SERIES_METRICS), now),
    ]
    for prop in PROPERTIES:
        names = tuple(
            m for m in ("visitors", "visits", "pageviews") if m in breakdown_metrics(prop)
        )
        out.append((breakdown_sql(prop, names), now))
    out += [(named_sql(name), now) for name in TABLES]
    out.append((email_campaigns_sql(), now))
    return out


def bare_sql(data_dir: Path, first: dt.date, last: dt.date) -> tuple[float, int]:
    con = duckdb.connect(str(data_dir / "clearcount.duckdb"), read_only=True)
    statements = raw_statements(first, last)
    started = time.perf_counter()
    for sql, values in statements:
        con.execute(sql, bind(sql, values)).fetchall()
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed, len(statements)


def dashboard_requests(root: Path, last: dt.date) -> tuple[float, list[float]]:
    """Seconds of the view's request: cold (fresh app, fresh DuckDB instance), then warm."""
    close_views()
    settings = Settings(
        data_dir=root / "data", sites=root / "sites.toml", rate_limit=0, login_rate_limit=0
    )
    noon = dt.datetime.combine(last, dt.time(12), dt.UTC)
    app = create_app(settings, clock=lambda: noon, housekeeping=False)
    client = app.test_client()
    client.post("/dashboard/login", data={"site": SITE, "token": TOKEN})
    timings = []
    for _ in range(4):
        started = time.perf_counter()
        response = client.get(f"/dashboard/{SITE}?period=30d")
        timings.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"the dashboard answered {response.status_code}")
    close_views()
    return timings[0], timings[1:]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clearcount-dashboard-bench-") as tmp:
        root = Path(tmp)
        (root / "sites.toml").write_text(SITES_TOML)
        data = root / "data"
        started = time.perf_counter()
        generate(data, args.rows, args.days)
        ensure_views(data)
        generated_s = time.perf_counter() - started
        started = time.perf_counter()
        built = rollups.refresh(Lake.of(data))
        rollup_s = time.perf_counter() - started
        first = dt.date(2026, 1, 1)
        last = first + dt.timedelta(days=args.days - 1)
        bare_sql(data, first, last)  # warm the file cache
        bare_s, statements = bare_sql(data, first, last)
        cold_s, warm = dashboard_requests(root, last)
    warm_s = statistics.median(warm)
    cold_ratio, warm_ratio = cold_s / bare_s, warm_s / bare_s
    verdict = {True: "meets", False: "**misses**"}
    body = f"""## Dashboard (`benchmarks/dashboard.py`, run by `make bench`)

Measured {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} on {machine()}: {args.rows:,} events
over {args.days} days generated straight into the lake ({generated_s:.1f} s); the sessions rollup
built from them as a loader does ({rollup_s:.1f} s, {built.rows:,} rows for {built.days} days).
Then (a) every panel of the 30-day view as bare DuckDB SQL over the raw events ({statements}
queries: top metrics and the previous period, the daily series, every breakdown, the named tables,
e-mail campaigns), and (b) the dashboard's own request for the same view
(`GET /dashboard/{SITE}?period=30d`: every panel through the Stats API's functions, mostly over
the rollup), cold (a fresh app and DuckDB instance) and warm (median of the next three).

| run | seconds |
| --- | ---: |
| (a) bare DuckDB SQL over raw events, every panel | {bare_s:.2f} |
| (b) dashboard view, cold | {cold_s:.2f} |
| (b) dashboard view, warm | {warm_s:.2f} |

| figure | value | target | verdict |
| --- | ---: | ---: | --- |
| (b) cold / (a) | {cold_ratio:.3f}x | <= 0.1x | {verdict[cold_ratio <= 0.1]} |
| (b) warm / (a) | {warm_ratio:.3f}x | <= 0.1x | {verdict[warm_ratio <= 0.1]} |
"""
    write_section("dashboard", body)
    print(body)


if __name__ == "__main__":
    main()
