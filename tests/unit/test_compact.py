"""Compaction and lake changes: rows unchanged, files swapped whole, readers undisturbed."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import orjson
import pytest

from pipelines.lake.commit import (
    PENDING,
    Hidden,
    changing,
    collect_garbage,
    lake_lock,
    live_files,
    read_hidden,
    settle,
    superseded_files,
    write_hidden,
)
from pipelines.lake.compact import compact
from pipelines.lake.load import daily_maintenance, load_once
from pipelines.lake.tables import ensure_views
from pipelines.rights.erasure import process_pending, request_erasure
from service.ingest.spool import SpoolWriter
from service.privacy.keys import KeyStore
from tests import patience

DAY = dt.date(2026, 11, 20)
ERASED = 7


def spool_rows(data_dir: Path, batch: int, site: str = "shop", days: int = 2) -> None:
    """One closed segment: one small file per (day) partition once loaded."""
    writer = SpoolWriter(data_dir / "spool", max_age_s=60)
    lines = []
    for day in range(days):
        when = dt.datetime.combine(DAY + dt.timedelta(days=day), dt.time(12), dt.UTC)
        for v in range(10):
            record = {
                "k": "e",
                "site": site,
                "event_id": f"{batch}-{day}-{v}",
                "type": "pageview",
                "received_at": int(when.timestamp() * 1000) + batch,
                "url": "https://shop.example/",
                "path": f"/p{batch}",
                "consent": "granted",
                "visitor_key": v,
                "policy_version": "1",
            }
            lines.append(orjson.dumps(record) + b"\n")
    writer.append(lines)
    writer.close()


def small_lake(data_dir: Path, batches: int = 6) -> None:
    for batch in range(batches):
        spool_rows(data_dir, batch)
        load_once(data_dir)
    ensure_views(data_dir)


def all_rows(data_dir: Path) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(data_dir / "clearcount.duckdb"), read_only=True)
    try:
        return con.execute("SELECT * FROM events ORDER BY event_id").fetchall()
    finally:
        con.close()


def event_files(data_dir: Path) -> list[Path]:
    return [p for p in live_files(data_dir / "lake", "events") if "_schema" not in str(p)]


def test_compaction_merges_small_files_and_changes_no_row(tmp_path: Path) -> None:
    small_lake(tmp_path)
    before = all_rows(tmp_path)
    assert len(event_files(tmp_path)) == 12  # 6 loads of 2 days each
    with lake_lock(tmp_path), changing(tmp_path) as change:
        counts = compact(tmp_path, change)
    settle(tmp_path)
    assert counts["partitions"] == 2
    assert counts["files_merged"] == 12
    assert counts["rows"] == 120
    assert all_rows(tmp_path) == before
    files = event_files(tmp_path)
    assert len(files) == 2
    assert all(p.name.startswith("c-") for p in files)
    # Only live files are left on disk, and nothing is hidden any more.
    on_disk = sorted((tmp_path / "lake" / "events").glob("site=shop/*/*.parquet"))
    assert on_disk == files
    assert read_hidden(tmp_path / "lake", "events") == []
    # A compacted lake has nothing more to merge.
    with lake_lock(tmp_path), changing(tmp_path) as change:
        assert not compact(tmp_path, change)


def test_files_of_unloaded_segments_are_left_alone(tmp_path: Path) -> None:
    """The loader rewrites a segment's files if it crashed before deleting the segment."""
    small_lake(tmp_path, batches=3)
    ready = tmp_path / "spool" / "ready"
    stem = sorted(p.name for p in event_files(tmp_path))[0].removeprefix("part-")
    (ready / stem.replace(".parquet", ".seg")).write_bytes(b"")
    with lake_lock(tmp_path), changing(tmp_path) as change:
        counts = compact(tmp_path, change)
    settle(tmp_path)
    assert counts["files_merged"] == 4  # 3 loads of 2 files, but not the two of that segment
    assert len([p for p in event_files(tmp_path) if p.name == f"part-{stem}"]) == 2


def test_a_commit_cut_short_leaves_readers_the_old_files(tmp_path: Path) -> None:
    """A crash after the new file appeared but before the swap: readers keep the old
    rows, once; the next writer retires the orphan."""
    small_lake(tmp_path, batches=2)
    before = all_rows(tmp_path)
    lake = tmp_path / "lake"
    orphan = event_files(tmp_path)[0].with_name("c-orphan.parquet")
    orphan.write_bytes(event_files(tmp_path)[0].read_bytes())
    entry = Hidden(f"site=shop/{orphan.parent.name}/{orphan.name}", PENDING, time.time())
    write_hidden(lake, "events", [entry])
    assert all_rows(tmp_path) == before  # pending: not shown beside the file it copies
    with lake_lock(tmp_path):
        collect_garbage(tmp_path)
    assert not orphan.exists()
    assert read_hidden(lake, "events") == []
    assert all_rows(tmp_path) == before


READER = """
import duckdb, json, sys, time
con = duckdb.connect(sys.argv[1], read_only=True)
print("open", flush=True)
deadline = time.monotonic() + float(sys.argv[2])
stop = sys.argv[3]
import os
while time.monotonic() < deadline and not os.path.exists(stop):
    try:
        row = con.execute(
            "SELECT count(*) FILTER (WHERE visitor_key <> 7), "
            "count(DISTINCT event_id) FILTER (WHERE visitor_key <> 7), "
            "count(*) FILTER (WHERE visitor_key = 7) FROM events WHERE site = 'shop'"
        ).fetchone()
        print(json.dumps({"others": row[0], "distinct": row[1], "erased": row[2]}), flush=True)
    except Exception as exc:
        print(json.dumps({"error": repr(exc)}), flush=True)
con.close()
"""


def start_reader(data_dir: Path, seconds: float) -> subprocess.Popen[str]:
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            READER,
            str(data_dir / "clearcount.duckdb"),
            str(seconds),
            str(data_dir / "stop-reader"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None
    assert reader.stdout.readline() == "open\n"
    return reader


def test_replaced_files_wait_for_open_readers_then_for_the_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLEARCOUNT_READER_GRACE_S", "3")
    small_lake(tmp_path, batches=3)
    reader = start_reader(tmp_path, 30)
    try:
        with lake_lock(tmp_path), changing(tmp_path) as change:
            compact(tmp_path, change)
        assert len(superseded_files(tmp_path / "lake")) == 6  # kept: a reader is open
        started = time.monotonic()
        settle(tmp_path)
        assert time.monotonic() - started >= 2  # the grace ran out, the reader still open
        assert superseded_files(tmp_path / "lake") == []
    finally:
        reader.kill()
        reader.communicate()


def test_a_reader_holding_the_views_open_never_errors_while_files_are_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compaction and erasure rewrite every partition while a reader queries in a loop:
    no error, other visitors' rows never duplicated or missing, the erased visitor's
    rows gone all at once; their bytes go once the reader closes."""
    monkeypatch.setenv("CLEARCOUNT_READER_GRACE_S", "600")  # only the reader closing frees files
    small_lake(tmp_path)
    keys = KeyStore(tmp_path / "keys")
    reader = start_reader(tmp_path, 60)
    try:
        with lake_lock(tmp_path), changing(tmp_path) as change:
            compact(tmp_path, change)
        request_erasure(
            tmp_path,
            keys,
            "shop",
            "visitor_key",
            ERASED,
            block_days=1,
            now=dt.datetime.now(dt.UTC),
        )
        with lake_lock(tmp_path):
            assert process_pending(tmp_path) == []  # committed; completes once files go
        for batch in (6, 7):  # the loader adds files meanwhile; compaction merges them
            spool_rows(tmp_path, batch, site="blog")
            load_once(tmp_path, wait=False)
        with lake_lock(tmp_path), changing(tmp_path) as change:
            compact(tmp_path, change)
        time.sleep(1)
    finally:
        (tmp_path / "stop-reader").touch()
        out, _ = reader.communicate(timeout=patience.seconds(60))
    results = [json.loads(line) for line in out.splitlines()]
    assert [r for r in results if "error" in r] == []
    assert len(results) > 20
    assert {(r["others"], r["distinct"]) for r in results} == {(108, 108)}
    erased = [r["erased"] for r in results]
    assert set(erased) == {12, 0}
    assert erased == sorted(erased, reverse=True)
    load_once(tmp_path)  # the reader is gone: the erasure completes
    assert list((tmp_path / "erasure" / "receipts").glob("*.json"))
    assert superseded_files(tmp_path / "lake") == []
    remaining = duckdb.execute(
        "SELECT count(*) FROM read_parquet(?) WHERE visitor_key = ?",
        [f"{tmp_path}/lake/events/site=shop/*/*.parquet", ERASED],
    ).fetchone()
    assert remaining == (0,)
    assert len(event_files(tmp_path)) == 4  # shop's two days and blog's, one file each
    assert os.listdir(tmp_path / "erasure" / "pending") == []


def test_daily_maintenance_compacts_once_a_day(tmp_path: Path) -> None:
    small_lake(tmp_path, batches=3)
    sites = tmp_path / "sites.toml"
    sites.write_text('[sites.shop]\norigins = ["https://shop.example"]\n', encoding="utf-8")
    today = dt.date(2026, 11, 24)
    assert daily_maintenance(tmp_path, sites, today)
    settle(tmp_path)
    assert len(event_files(tmp_path)) == 2
    assert '"action":"compaction"' in (tmp_path / "audit.jsonl").read_text()
    spool_rows(tmp_path, 9)
    load_once(tmp_path)
    assert not daily_maintenance(tmp_path, sites, today)  # done for the day
    assert len(event_files(tmp_path)) == 4
