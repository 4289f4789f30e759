"""Compaction: its cost against a bare rewrite of the same files, and what it buys readers.

A lake is generated as loaders leave it, many small files per day partition
(one commit per round); then, in the same run: the same queries over the
views (before), a bare pyarrow rewrite of every partition into one file (the
baseline), ``compact`` (Delta ``optimize``, one commit) with the vacuum of the
replaced files, and the queries again (after).

Usage: python -m benchmarks.compact [--rows 2000000] [--days 10] [--files-per-day 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.common import machine, write_section
from benchmarks.report import generate
from pipelines.lake.commit import vacuum_all
from pipelines.lake.compact import compact
from pipelines.lake.tables import Lake, ensure_views

QUERIES = (
    "SELECT date, count(*), count(DISTINCT visitor_key) FROM events GROUP BY date",
    "SELECT path, count(*) FROM events WHERE type = 'pageview' GROUP BY path ORDER BY 2 DESC "
    "LIMIT 10",
    "SELECT count(*) FROM events WHERE country = 'DE' AND device = 'mobile'",
)


def query_time(data_dir: Path, rounds: int = 3) -> float:
    con = duckdb.connect(str(data_dir / "clearcount.duckdb"), read_only=True)
    try:
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            for sql in QUERIES:
                con.execute(sql).fetchall()
            best = min(best, time.perf_counter() - started)
        return best
    finally:
        con.close()


def bare_rewrite(lake: Path, out: Path) -> float:
    """One file per partition with pyarrow alone: no commit, no vacuum."""
    started = time.perf_counter()
    for directory in sorted((lake / "events").glob("site=bench/*")):
        files = sorted(directory.glob("*.parquet"))
        writer = pq.ParquetWriter(
            out / f"{directory.name}.parquet", pq.read_schema(files[0]), compression="zstd"
        )
        for path in files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=64 * 1024):
                writer.write_table(pa.Table.from_batches([batch]))
        writer.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--files-per-day", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clearcount-compact-bench-") as tmp:
        data = Path(tmp) / "data"
        generate(data, args.rows, args.days, files_per_day=args.files_per_day)
        files = len(list((data / "lake" / "events").glob("site=bench/*/*.parquet")))
        ensure_views(data)
        before_s = query_time(data)
        copy = Path(tmp) / "copy"
        copy.mkdir()
        bare_s = bare_rewrite(data / "lake", copy)
        started = time.perf_counter()
        lake = Lake.of(data)
        counts = compact(lake)
        vacuum_all(lake, grace_s=0)
        compact_s = time.perf_counter() - started
        after_s = query_time(data)
        left = len(list((data / "lake" / "events").glob("site=bench/*/*.parquet")))
    ratio = compact_s / bare_s
    body = f"""## Compaction (`benchmarks/compact.py`, run by `make bench`)

Measured {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} on {machine()}: {args.rows:,} events
over {args.days} days in {files:,} files (as the loader leaves a busy lake), then in the same run:
three analyst queries over the views, a bare pyarrow rewrite of every partition into one file
(baseline), `compact` (Delta `optimize` committed once, then the vacuum of the replaced files),
and the queries again. {counts["files_merged"]:,} files became {left}.

| run | seconds |
| --- | ---: |
| bare pyarrow rewrite (baseline) | {bare_s:.2f} |
| clearcount compact | {compact_s:.2f} |
| queries over {files:,} small files | {before_s:.3f} |
| the same queries after compaction | {after_s:.3f} |

| figure | value | target | verdict |
| --- | ---: | ---: | --- |
| compact time / bare rewrite | {ratio:.2f}x | <= 1.50x | {"meets" if ratio <= 1.5 else "**misses**"} |
| compaction rows/s | {args.rows / compact_s:,.0f} | | |
| query time after / before | {after_s / before_s:.2f}x | < 1.00x | {"meets" if after_s < before_s else "**misses**"} |
"""
    write_section("compact", body)
    print(body)


if __name__ == "__main__":
    main()
