"""Report time over a large lake against the same aggregates as bare DuckDB SQL.

Rows are generated straight into the lake's Delta ``events`` table (one commit
a day), then, in the same run: every report query executed as bare
SQL (the baseline), and the whole ``build_report`` (the same queries plus
suppression, CSV, Parquet and the HTML page with charts).

Usage: python -m benchmarks.report [--rows 10000000] [--days 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from deltalake import write_deltalake

from benchmarks.common import machine, write_section
from pipelines.analysis.report import TABLES, build_report, run_queries
from pipelines.lake.tables import PARTITION_BY, TABLE_SCHEMAS, WRITER, Lake, ensure_views
from service.sites import Site

PATHS = np.array([f"/page/{i}" for i in range(200)])
SOURCES = np.array(["direct", "search", "social", "email", "referral"])
COUNTRIES = np.array(["US", "GB", "DE", "FR", "BR", "IN", "JP", "IE", "NL", "ES"])
BROWSERS = np.array(["Chrome", "Safari", "Firefox", "Edge", "Mobile Safari"])
DEVICES = np.array(["desktop", "mobile", "tablet"])
TYPES = np.array(["pageview", "engagement", "click", "custom", "open"])


def generate(data_dir: Path, rows: int, days: int, seed: int = 1, files_per_day: int = 1) -> None:
    """Append ``rows`` events for the site ``bench`` over ``days`` days to the lake, in
    ``files_per_day`` commits, each adding one file to every day."""
    rng = np.random.default_rng(seed)
    schema = TABLE_SCHEMAS["events"]
    lake = Lake.of(data_dir)
    lake.ensure_tables()
    days_of_rows = []
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    per_day = rows // days
    popularity = 1 / np.arange(1, len(PATHS) + 1)
    popularity /= popularity.sum()
    for day in range(days):
        n = per_day if day < days - 1 else rows - per_day * (days - 1)
        base = int((start + dt.timedelta(days=day)).timestamp() * 1000)
        types = TYPES[rng.choice(len(TYPES), n, p=[0.7, 0.15, 0.08, 0.05, 0.02])]
        paths = PATHS[rng.choice(len(PATHS), n, p=popularity)]
        visitors = rng.integers(0, max(rows // 20, 1), n) + day * 7919
        columns = {
            "event_id": pa.array(np.char.add(f"d{day}-", np.arange(n).astype(str))),
            "type": pa.array(types),
            "received_at": pa.array(
                base + np.sort(rng.integers(0, 86_400_000, n)), pa.timestamp("ms", tz="UTC")
            ),
            "url": pa.array(np.char.add("https://bench.example", paths)),
            "path": pa.array(paths),
            "referrer_host": pa.array(np.where(rng.random(n) < 0.4, "www.google.com", None)),
            "source": pa.array(SOURCES[rng.integers(0, len(SOURCES), n)]),
            "utm_campaign": pa.array(np.where(rng.random(n) < 0.05, "november", None)),
            "consent": pa.array(np.where(rng.random(n) < 0.35, "granted", "implied")),
            "visitor_key": pa.array(visitors, pa.int64()),
            "country": pa.array(COUNTRIES[rng.integers(0, len(COUNTRIES), n)]),
            "browser": pa.array(BROWSERS[rng.integers(0, len(BROWSERS), n)]),
            "os": pa.array(np.where(rng.random(n) < 0.5, "Windows", "iOS")),
            "device": pa.array(DEVICES[rng.integers(0, len(DEVICES), n)]),
            "name": pa.array(np.where(types == "custom", "signup", None)),
            "depth": pa.array(
                np.where(types == "engagement", rng.integers(0, 101, n), 0), pa.int16()
            ),
            "engaged_ms": pa.array(rng.integers(0, 300_000, n), pa.int64()),
            "policy_version": pa.array(np.full(n, "1")),
            "site": pa.array(np.full(n, "bench")),
            "date": pa.array(np.full(n, (start + dt.timedelta(days=day)).date()), pa.date32()),
        }
        table = pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in schema})
        days_of_rows.append(table.cast(schema))
    for part in range(files_per_day):
        slices = []
        for table in days_of_rows:
            size = -(-table.num_rows // files_per_day)
            slices.append(table.slice(part * size, size))
        write_deltalake(
            lake.uri("events"),
            pa.concat_tables(slices),
            mode="append",
            partition_by=PARTITION_BY,
            writer_properties=WRITER,
        )


def bare_sql(data_dir: Path, date_from: dt.date, date_to: dt.date) -> float:
    """The report's statements (the metrics layer's and the rest, visits cut once into
    temp tables as the report does) as plain DuckDB queries over the views; seconds."""
    con = duckdb.connect(str(data_dir / "clearcount.duckdb"), read_only=True)
    started = time.perf_counter()
    run_queries(con, Site(id="bench", k=5), date_from, date_to)
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clearcount-report-bench-") as tmp:
        data = Path(tmp) / "data"
        started = time.perf_counter()
        generate(data, args.rows, args.days)
        ensure_views(data)
        generated_s = time.perf_counter() - started
        site = Site(id="bench", k=5)
        first, last = dt.date(2026, 1, 1), dt.date(2026, 1, 1) + dt.timedelta(days=args.days - 1)
        bare_sql(data, first, last)  # warm the file cache for both
        bare_s = bare_sql(data, first, last)
        started = time.perf_counter()
        build_report(data, site, first, last, Path(tmp) / "report")
        report_s = time.perf_counter() - started
    ratio = report_s / bare_s
    body = f"""## Report (`benchmarks/report.py`, run by `make bench`)

Measured {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} on {machine()}: {args.rows:,} events
over {args.days} days generated straight into the lake ({generated_s:.1f} s), then in the same run
the {len(TABLES)} report aggregates as bare DuckDB SQL over the views, and `build_report` (the same
queries plus k-suppression, CSV, Parquet and the HTML page with charts).

| run | seconds |
| --- | ---: |
| bare DuckDB SQL, the same aggregates (baseline) | {bare_s:.2f} |
| clearcount report | {report_s:.2f} |

| figure | value | target | verdict |
| --- | ---: | ---: | --- |
| report time / bare SQL | {ratio:.2f}x | <= 1.20x | {"meets" if ratio <= 1.2 else "**misses**"} |
"""
    write_section("report", body)
    print(body)


if __name__ == "__main__":
    main()
