"""The loader's throughput against a bare pyarrow write of the same rows.

Spool segments are generated as collectors leave them (minimized events, a
few sites, three days), then, in the same run: the baseline, the segments'
rows (already parsed into Arrow) written hive-partitioned by site and date
with ``pyarrow.dataset.write_dataset``, zstd, no commit; and ``load_once``,
which reads and parses the segments, numbers them, commits each table once
through Delta with the collector's transaction id, and deletes them. Each
is timed over several rounds; medians are reported.

Usage: python -m benchmarks.loader [--segments 40] [--rows-per-segment 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.dataset as ds

from benchmarks.common import machine, write_section
from pipelines.lake.load import load_once, parse_segment, table_rows
from service.ingest.spool import SpoolWriter

PATHS = [f"/page/{i}" for i in range(200)]
SITES = ("shop", "blog", "docs")
DAY_MS = 86_400_000
START_MS = 1_795_000_000_000


def record(rng: random.Random, n: int) -> bytes:
    path = rng.choice(PATHS)
    return orjson.dumps(
        {
            "k": "e",
            "event_id": f"{n:012x}-{rng.getrandbits(32):08x}",
            "site": rng.choice(SITES),
            "type": rng.choices(("pageview", "engagement", "click"), (7, 2, 1))[0],
            "received_at": START_MS + rng.randrange(3 * DAY_MS),
            "url": f"https://shop.example{path}?utm_source=news",
            "path": path,
            "referrer_host": "www.google.com",
            "source": "search",
            "utm_source": "news",
            "consent": rng.choice(("implied", "granted")),
            "visitor_key": rng.getrandbits(63),
            "country": "DE",
            "browser": "Firefox",
            "browser_version": "133.0",
            "os": "Linux",
            "device": "desktop",
            "depth": rng.randrange(101),
            "engaged_ms": rng.randrange(300_000),
            "policy_version": "1",
        }
    )


def spool(data_dir: Path, segments: int, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    for s in range(segments):
        writer = SpoolWriter(data_dir / "spool", max_age_s=3600)
        writer.append([record(rng, s * rows + i) + b"\n" for i in range(rows)])
        writer.close()


def parsed_rows(data_dir: Path) -> pa.Table:
    ready = sorted((data_dir / "spool" / "ready").glob("*.seg"))
    tables = [dict(table_rows(parse_segment(p.read_bytes())[0]))["events"] for p in ready]
    return pa.concat_tables(tables)


def bare_write(rows: pa.Table, out: Path) -> float:
    started = time.perf_counter()
    ds.write_dataset(
        rows,
        out,
        format="parquet",
        partitioning=ds.partitioning(
            pa.schema([("site", pa.string()), ("date", pa.date32())]), flavor="hive"
        ),
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
        existing_data_behavior="overwrite_or_ignore",
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--rows-per-segment", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    total = args.segments * args.rows_per_segment
    bare, loader = [], []
    with tempfile.TemporaryDirectory(prefix="clearcount-loader-bench-") as tmp:
        for r in range(args.rounds):
            data = Path(tmp) / f"round-{r}"
            spool(data, args.segments, args.rows_per_segment, seed=r)
            rows = parsed_rows(data)
            bare.append(bare_write(rows, Path(tmp) / f"bare-{r}"))
            started = time.perf_counter()
            stats = load_once(data)
            loader.append(time.perf_counter() - started)
            if stats.rows["events"] != total:
                raise SystemExit(f"loaded {stats.rows['events']} of {total} rows")
    bare_rate = total / statistics.median(bare)
    loader_rate = total / statistics.median(loader)
    ratio = loader_rate / bare_rate
    body = f"""## Loader (`benchmarks/loader.py`, run by `make bench`)

Measured {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} on {machine()}: {args.segments} spool
segments of {args.rows_per_segment:,} events ({total:,} rows, 3 sites, 3 days), medians of
{args.rounds} rounds. Baseline: the same rows, already parsed into Arrow, written hive-partitioned
with `pyarrow.dataset.write_dataset` (zstd, no commit). Loader: `load_once`, which reads and
parses the segments, numbers them, commits each table once through Delta with the collector's
transaction id, and deletes them.

| run | rows/s |
| --- | ---: |
| bare pyarrow write (baseline) | {bare_rate:,.0f} |
| clearcount loader | {loader_rate:,.0f} |

| figure | value | target | verdict |
| --- | ---: | ---: | --- |
| loader rows/s / bare write rows/s | {ratio:.2f}x | >= 0.50x | {"meets" if ratio >= 0.5 else "**misses**"} |
"""
    write_section("loader", body)
    print(body)


if __name__ == "__main__":
    main()
