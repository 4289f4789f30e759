"""The loader: closed spool segments → Parquet files in the lake, exactly once.

Each (segment, table, site, date) becomes one file with a name derived from
the segment, written atomically; only then is the segment deleted. A crash
between the two leaves the segment in ready/, and loading it again rewrites
the same file names with the same rows: nothing lost, nothing twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from pipelines.lake import (
    SCHEMAS,
    TABLE_OF_KIND,
    ensure_schema_files,
    partition_dir,
    write_parquet_atomic,
)
from service import metrics
from service.ingest.spool import claim_abandoned, fsync_dir, ready_segments, spool_dirs

log = logging.getLogger("clearcount.loader")


@contextlib.contextmanager
def lake_lock(data_dir: Path) -> Iterator[None]:
    """One writer of the lake at a time: loaders, erasure, retention and compaction."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / ".lake.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@dataclass
class LoadStats:
    segments: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    bad_lines: int = 0

    def add(self, other: LoadStats) -> None:
        self.segments += other.segments
        self.rows.update(other.rows)
        self.bad_lines += other.bad_lines


def _date_of(received_at_ms: int) -> str:
    return dt.datetime.fromtimestamp(received_at_ms / 1000, dt.UTC).date().isoformat()


def group_records(
    records: list[dict[str, Any]],
) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """Rows per (table, site, date); denied events become one count per type and reason."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    denied: Counter[tuple[str, str, str, str]] = Counter()
    for rec in records:
        table = TABLE_OF_KIND[rec.pop("k")]
        site = rec.pop("site")
        if table == "denied_counts":
            denied[(site, rec["date"], rec["type"], rec["reason"])] += 1
            continue
        groups[(table, site, _date_of(rec["received_at"]))].append(rec)
    for (site, date, type_, reason), n in sorted(denied.items()):
        groups[("denied_counts", site, date)].append({"type": type_, "reason": reason, "count": n})
    return groups


def _quarantine_segment(segment: Path, failed_dir: Path, bad: list[bytes]) -> None:
    """Keep unreadable lines for inspection, with an error file that says why."""
    target = failed_dir / segment.name
    target.write_bytes(b"\n".join(bad) + b"\n")
    (failed_dir / f"{segment.name}.error").write_text(
        f"{len(bad)} line(s) were not valid JSON records; the other lines were loaded\n",
        encoding="utf-8",
    )


def load_segment(segment: Path, lake: Path, failed_dir: Path) -> LoadStats:
    stats = LoadStats(segments=1)
    data = segment.read_bytes()
    # Bytes after the last newline are a write whose fsync never returned: never acknowledged.
    lines = data.split(b"\n")[:-1]
    records, bad = [], []
    for line in lines:
        if not line:
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            bad.append(line)
            continue
        if isinstance(rec, dict) and rec.get("k") in TABLE_OF_KIND and "site" in rec:
            records.append(rec)
        else:
            bad.append(line)
    for (table, site, date), rows in group_records(records).items():
        arrow = pa.Table.from_pylist(rows, schema=SCHEMAS[table])
        path = partition_dir(lake, table, site, date) / f"part-{segment.stem}.parquet"
        write_parquet_atomic(arrow, path)
        stats.rows[table] += len(rows)
    if bad:
        _quarantine_segment(segment, failed_dir, bad)
        stats.bad_lines = len(bad)
        log.error(
            "segment had unreadable lines", extra={"segment": segment.name, "lines": len(bad)}
        )
    segment.unlink()
    fsync_dir(segment.parent)
    return stats


def load_once(data_dir: Path) -> LoadStats:
    """Drain every closed (or abandoned) segment into the lake."""
    spool_dir, lake = data_dir / "spool", data_dir / "lake"
    total = LoadStats()
    with lake_lock(data_dir):
        ensure_schema_files(lake)
        claim_abandoned(spool_dir)
        _, _, failed_dir = spool_dirs(spool_dir)
        for segment in ready_segments(spool_dir):
            stats = load_segment(segment, lake, failed_dir)
            total.add(stats)
            for table, n in stats.rows.items():
                metrics.ROWS_LOADED.labels(table).inc(n)
    if total.segments:
        log.info(
            "loaded",
            extra={
                "segments": total.segments,
                "rows": dict(total.rows),
                "bad_lines": total.bad_lines,
            },
        )
    return total


def follow(data_dir: Path, interval_s: float, stop: threading.Event) -> None:
    """Load until ``stop`` is set, then drain once more: a graceful shutdown loses nothing."""
    while not stop.is_set():
        try:
            load_once(data_dir)
        except OSError:
            log.exception("load failed; retrying")
        stop.wait(interval_s)
    load_once(data_dir)
