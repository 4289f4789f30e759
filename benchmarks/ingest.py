"""Ingest throughput and latency against a bare Flask endpoint, plus loader rows/s.

Everything is measured in one run on this machine, load generator included,
and reported as ratios to baselines from the same run:

* POST /api/event, one event a request: clearcount vs a bare Flask endpoint
  answering 204 under the same gunicorn settings (workers, threads, logging);
* POST /api/event, batches of 20: events/s;
* the loader: spool segments → Parquet, vs converting the same JSON lines to
  one Parquet file with pyarrow directly.

Usage: python benchmarks/ingest.py [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import json as pa_json

from benchmarks.common import free_port, machine, process, python, wait_http, write_section, wrk

SITES = """\
[sites.bench]
origins = ["https://bench.example"]
query_allowlist = ["utm_source", "utm_medium", "utm_campaign"]
"""


def event(i: int) -> dict[str, object]:
    return {
        "site": "bench",
        "type": "pageview" if i % 4 else "click",
        "url": f"https://bench.example/articles/{i % 50}?utm_source=news&session=abc{i}",
        "referrer": "https://www.google.com/search?q=clearcount",
        "consent": ("implied", "granted", "implied")[i % 3],
        "visitor_id": f"visitor-{i % 97}",
        "props": {"plan": "pro", "seats": i % 7},
        "sw": 1440,
        "sh": 900,
    }


def serve_env(data_dir: Path, port: int, workers: int, threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARCOUNT_")}
    env.update(
        {
            "CLEARCOUNT_DATA_DIR": str(data_dir),
            "CLEARCOUNT_SITES": str(data_dir.parent / "sites.toml"),
            "CLEARCOUNT_BIND": f"127.0.0.1:{port}",
            "CLEARCOUNT_RATE_LIMIT": "0",
            "CLEARCOUNT_WORKERS": str(workers),
            "CLEARCOUNT_THREADS": str(threads),
            "CLEARCOUNT_LOG_LEVEL": "warning",
        }
    )
    return env


def bench_http(
    work: Path, seconds: int, connections: int, workers: int, threads: int
) -> dict[str, dict[str, float]]:
    (work / "sites.toml").write_text(SITES)
    single, batch = work / "single.json", work / "batch.json"
    single.write_bytes(orjson.dumps(event(1)))
    batch.write_bytes(orjson.dumps([event(i) for i in range(20)]))
    results = {}

    port = free_port()
    env = serve_env(work / "bare-data", port, workers, threads)
    with process(
        [
            python(),
            "-m",
            "gunicorn",
            "-c",
            "python:service.gunicorn_conf",
            "benchmarks.bare_app:app",
        ],
        env,
        work / "bare.log",
    ):
        _wait_post(port)
        wrk(
            f"http://127.0.0.1:{port}/api/event", single, seconds=2, connections=connections
        )  # warm-up
        results["bare_single"] = wrk(
            f"http://127.0.0.1:{port}/api/event", single, seconds=seconds, connections=connections
        )

    port = free_port()
    env = serve_env(work / "data", port, workers, threads)
    with process([python(), "-m", "service.cli", "serve"], env, work / "serve.log"):
        wait_http(f"http://127.0.0.1:{port}/healthz")
        url = f"http://127.0.0.1:{port}/api/event"
        wrk(url, single, seconds=2, connections=connections)  # warm-up: caches, keys, segments
        results["clearcount_single"] = wrk(url, single, seconds=seconds, connections=connections)
        results["clearcount_batch20"] = wrk(url, batch, seconds=seconds, connections=connections)
    return results


def _wait_post(port: int) -> None:
    """The bare app has no health route; its one endpoint answers a POST."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/event", data=b"{}", method="POST"
            )
            with urllib.request.urlopen(req, timeout=1):  # noqa: S310 (loopback)
                return
        time.sleep(0.1)
    raise RuntimeError("bare app did not answer")


def bench_loader(work: Path, rows: int) -> dict[str, float]:
    """The loader over real segments vs pyarrow converting the same lines in one go."""
    from pipelines.load import load_once
    from service.app import create_app
    from service.ingest.spool import SpoolWriter
    from service.settings import Settings
    from service.sites import parse_sites

    data_dir = work / "loader-data"
    app = create_app(
        Settings(data_dir=data_dir, rate_limit=0), sites=parse_sites(SITES), housekeeping=False
    )
    client = app.test_client()
    headers = {
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
    }
    body = [event(i) for i in range(100)]
    for _ in range(rows // 100):
        client.post("/api/event", json=body, headers=headers)
    app.extensions["clearcount"].close()
    spool: SpoolWriter = app.extensions["clearcount"].spool
    lines = b"".join(p.read_bytes() for p in sorted((spool.ready_dir).iterdir()))

    # Baseline: the most direct conversion of the same bytes, one Arrow read and one
    # Parquet write, without partitioning, atomic renames or fsync.
    start = time.perf_counter()
    table = pa_json.read_json(pa.BufferReader(lines))
    pq.write_table(table, work / "bare.parquet", compression="zstd")
    bare_s = time.perf_counter() - start
    rows = table.num_rows

    start = time.perf_counter()
    stats = load_once(data_dir)
    load_s = time.perf_counter() - start
    if stats.rows["events"] != rows:
        raise RuntimeError(f"loader wrote {stats.rows} rows of {rows}")
    return {"rows": rows, "bare_rows_s": rows / bare_s, "loader_rows_s": rows / load_s}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="length of each measured wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--loader-rows", type=int, default=100_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clearcount-bench-") as tmp:
        work = Path(tmp)
        http = bench_http(work, args.seconds, args.connections, args.workers, args.threads)
        loader = bench_loader(work, args.loader_rows)

    bare, single, batch = http["bare_single"], http["clearcount_single"], http["clearcount_batch20"]
    ratio = single["rps"] / bare["rps"]
    events_s = batch["rps"] * 20
    loader_ratio = loader["loader_rows_s"] / loader["bare_rows_s"]
    verdict = lambda ok: "meets" if ok else "**misses**"  # noqa: E731
    body = f"""## Ingest (`benchmarks/ingest.py`, run by `make bench`)

Measured {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} on {machine()}; wrk on the same
machine ({args.connections} connections, {args.seconds} s a run); gunicorn {args.workers} workers ×
{args.threads} threads (gthread) for both servers; fsync group commit on.

| run | requests/s | events/s | p50 ms | p99 ms | errors |
| --- | ---: | ---: | ---: | ---: | ---: |
| bare Flask endpoint, 204 (baseline) | {bare["rps"]:,.0f} | {bare["rps"]:,.0f} | {bare["p50_ms"]:.2f} | {bare["p99_ms"]:.2f} | {bare["errors"]:.0f} |
| clearcount, single event | {single["rps"]:,.0f} | {single["rps"]:,.0f} | {single["p50_ms"]:.2f} | {single["p99_ms"]:.2f} | {single["errors"]:.0f} |
| clearcount, batches of 20 | {batch["rps"]:,.0f} | {events_s:,.0f} | {batch["p50_ms"]:.2f} | {batch["p99_ms"]:.2f} | {batch["errors"]:.0f} |

| figure | value | target | verdict |
| --- | ---: | ---: | --- |
| single-event throughput / bare endpoint | {ratio:.2f}× | ≥ 0.70× | {verdict(ratio >= 0.7)} |
| batch-of-20 events/s | {events_s:,.0f} | ≥ 20,000 | {verdict(events_s >= 20_000)} |
| loader rows/s ({loader["rows"]:,} rows) | {loader["loader_rows_s"]:,.0f} | — | — |
| loader / one Arrow read + Parquet write of the same bytes | {loader_ratio:.2f}× | — | — |
"""
    write_section("ingest", body)
    print(body)


if __name__ == "__main__":
    main()
