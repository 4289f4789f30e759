"""Ingest throughput and latency against a bare Flask endpoint, plus loader rows/s.

Everything is measured in one run on this machine, load generator included,
and reported as ratios to baselines from the same run:

* POST /api/event, one event a request: clearcount vs a bare Flask endpoint
  answering 204 under the same gunicorn settings (workers, threads, logging);
  and, to show what durability alone costs, a bare endpoint that makes each
  request durable through the spool before answering (``bare_app.durable_app``);
* POST /api/event, batches of 20: events/s;
* the loader: spool segments → Parquet, vs converting the same JSON lines to
  one Parquet file with pyarrow directly.

Usage: python -m benchmarks.ingest [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import json as pa_json

from benchmarks.common import free_port, machine, process, python, write_section, wrk
from service.settings import Settings

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


def bench_http(work: Path, args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    """Alternate the four runs for several rounds with all three servers up.

    This machine is shared: throughput of the very same server swings by 2x
    from one run to the next. Interleaving rounds exposes every server to the
    same phases; the report gives medians and bests.
    """
    (work / "sites.toml").write_text(SITES)
    single, batch = work / "single.json", work / "batch.json"
    single.write_bytes(orjson.dumps(event(1)))
    batch.write_bytes(orjson.dumps([event(i) for i in range(20)]))
    runs: dict[str, list[dict[str, float]]] = {"bare": [], "durable": [], "single": [], "batch": []}
    bare_port, durable_port, port = free_port(), free_port(), free_port()

    def baseline(app: str) -> list[str]:
        return [python(), "-m", "gunicorn", "-c", "python:service.gunicorn_conf", app]

    bare_env = serve_env(work / "bare-data", bare_port, args.workers, args.threads)
    durable_env = serve_env(work / "durable-data", durable_port, args.workers, args.threads)
    env = serve_env(work / "data", port, args.workers, args.threads)
    with (
        process(
            baseline("benchmarks.bare_app:app"),
            bare_env,
            work / "bare.log",
            f"http://127.0.0.1:{bare_port}/healthz",
        ),
        process(
            baseline("benchmarks.bare_app:durable_app"),
            durable_env,
            work / "durable.log",
            f"http://127.0.0.1:{durable_port}/healthz",
        ),
        process(
            [python(), "-m", "service.cli", "serve"],
            env,
            work / "serve.log",
            f"http://127.0.0.1:{port}/healthz",
        ),
    ):
        bare_url = f"http://127.0.0.1:{bare_port}/api/event"
        durable_url = f"http://127.0.0.1:{durable_port}/api/event"
        url = f"http://127.0.0.1:{port}/api/event"
        for target in (bare_url, durable_url, url):  # warm-up: caches, keys, first segments
            wrk(target, single, seconds=2, connections=args.connections)
        for _ in range(args.rounds):
            for name, target, body in (
                ("bare", bare_url, single),
                ("durable", durable_url, single),
                ("single", url, single),
                ("batch", url, batch),
            ):
                time.sleep(SETTLE_S)  # let the loader drain the previous run's segments
                runs[name].append(
                    wrk(target, body, seconds=args.seconds, connections=args.connections)
                )
    return runs


SETTLE_S = 3.0


def bench_loader(work: Path, rows: int) -> dict[str, float]:
    """The loader over real segments vs pyarrow converting the same lines in one go."""
    from pipelines.lake.load import load_once
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


def _row(label: str, runs: list[dict[str, float]], per_request: int) -> str:
    rps = sorted(r["rps"] for r in runs)
    med = statistics.median(rps)
    p50 = statistics.median(r["p50_ms"] for r in runs)
    p99 = statistics.median(r["p99_ms"] for r in runs)
    errors = sum(r["errors"] for r in runs)
    return (
        f"| {label} | {med:,.0f} | {rps[-1]:,.0f} | {med * per_request:,.0f} "
        f"| {p50:.2f} | {p99:.2f} | {errors:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=6, help="length of each measured wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the four runs")
    parser.add_argument("--connections", type=int, default=32)
    defaults = Settings()  # the collector's own defaults, for every server
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--loader-rows", type=int, default=100_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clearcount-bench-") as tmp:
        work = Path(tmp)
        runs = bench_http(work, args)
        loader = bench_loader(work, args.loader_rows)

    def median_rps(name: str) -> float:
        return statistics.median(r["rps"] for r in runs[name])

    def best_rps(name: str) -> float:
        return max(r["rps"] for r in runs[name])

    ratio, best_ratio = (
        median_rps("single") / median_rps("bare"),
        best_rps("single") / best_rps("bare"),
    )
    floor = median_rps("durable") / median_rps("bare")
    over_floor = median_rps("single") / median_rps("durable")
    events_s, best_events_s = median_rps("batch") * 20, best_rps("batch") * 20
    # The standing bars: single events against the durable-append floor, batches as
    # events per bare-endpoint request; both ratios of the same run.
    batch_per_bare = events_s / median_rps("bare")
    best_batch_per_bare = best_events_s / best_rps("bare")
    loader_ratio = loader["loader_rows_s"] / loader["bare_rows_s"]

    def verdict(ok: bool) -> str:
        return "meets" if ok else "**misses**"

    body = f"""## Ingest (`benchmarks/ingest.py`, run by `make bench`)

Measured {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} on {machine()}, wrk on the same
machine ({args.connections} connections, {args.rounds} interleaved rounds of {args.seconds} s runs);
gunicorn {args.workers} workers x {args.threads} threads for every server, with the same
settings (clearcount's threaded worker, workers pinned to CPUs, the same access logger);
clearcount with its loader running and fsync on every acknowledged write. The durable-append
endpoint is the bare one plus clearcount's spool: each request appends a record the size of
its body and waits for the group commit's `fdatasync`, as clearcount does, and nothing else.

| run | median req/s | best req/s | median events/s | p50 ms | p99 ms | errors |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{_row("bare Flask endpoint, 204 (baseline)", runs["bare"], 1)}
{_row("bare Flask endpoint + durable append through the spool, 202", runs["durable"], 1)}
{_row("clearcount, single event", runs["single"], 1)}
{_row("clearcount, batches of 20", runs["batch"], 20)}

| figure | median | best | target | verdict (median) |
| --- | ---: | ---: | ---: | --- |
| single-event throughput / durable-append endpoint | {over_floor:.2f}x | | >= 0.60x | {verdict(over_floor >= 0.6)} |
| batch-of-20 events/s / bare endpoint req/s | {batch_per_bare:.2f} | {best_batch_per_bare:.2f} | >= 3.5 | {verdict(batch_per_bare >= 3.5)} |
| single-event throughput / bare endpoint | {ratio:.2f}x | {best_ratio:.2f}x | | |
| durable-append endpoint / bare endpoint (the floor under "a 202 means durable") | {floor:.2f}x | | | |
| batch-of-20 events/s | {events_s:,.0f} | {best_events_s:,.0f} | | |
| loader rows/s ({loader["rows"]:,} rows) | {loader["loader_rows_s"]:,.0f} | | | |
| loader / one Arrow read + Parquet write of the same bytes | {loader_ratio:.2f}x | | | |
"""
    write_section("ingest", body)
    print(body)


if __name__ == "__main__":
    main()
