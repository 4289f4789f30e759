"""Compaction, erasure and the readers' grace on the Delta lake: rows unchanged, commits
seen whole, readers undisturbed, no replaced byte left once the grace has passed."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path

import duckdb
import orjson
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from pipelines.lake import commit
from pipelines.lake.commit import vacuum_all
from pipelines.lake.compact import compact
from pipelines.lake.files import orphans
from pipelines.lake.load import daily_maintenance, load_once, load_segments, number_segments
from pipelines.lake.tables import Lake, ensure_views
from pipelines.rights.erasure import RECEIPTS, pending_requests, process_pending, request_erasure
from service.ingest.spool import SpoolWriter, ready_segments
from service.privacy.keys import KeyStore
from service.privacy.tombstones import Tombstones
from tests import patience, product
from tests.lake_bytes import holding, local_files

DAY = dt.date(2026, 11, 20)
# A pseudonym as HMACs make them: 64 bits, so its bytes are not found by chance.
ERASED = -0x3A5F_1C2B_9D4E_6F70


def key_of(v: int, site: str) -> int:
    """Visitor 7 of the shop is the one erased; keys are per site, as HMACs of a site's secret."""
    return ERASED if (v, site) == (7, "shop") else 0x1000_0000_0000 + v


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
                "visitor_key": key_of(v, site),
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


def event_files(data_dir: Path) -> list[str]:
    return sorted(u.split("/events/", 1)[1] for u in Lake.of(data_dir).table("events").file_uris())


def parquet_on_disk(data_dir: Path) -> list[str]:
    root = data_dir / "lake" / "events"
    return sorted(str(p.relative_to(root)) for p in root.glob("site=*/*/*.parquet"))


def test_compaction_merges_small_files_and_changes_no_row(tmp_path: Path) -> None:
    small_lake(tmp_path)
    before = all_rows(tmp_path)
    assert len(event_files(tmp_path)) == 12  # 6 loads of 2 days each
    counts = compact(Lake.of(tmp_path))
    assert counts["partitions"] == 2
    assert counts["files_merged"] == 12
    assert counts["files_written"] == 2
    assert all_rows(tmp_path) == before
    assert len(event_files(tmp_path)) == 2
    # The replaced files stay for readers until vacuumed; then only live files are left.
    assert len(parquet_on_disk(tmp_path)) == 14
    Lake.of(tmp_path).vacuum("events", grace_s=0)
    assert parquet_on_disk(tmp_path) == sorted(event_files(tmp_path))
    # A compacted lake has nothing more to merge.
    assert not compact(Lake.of(tmp_path))


def test_replaced_files_stay_for_the_readers_grace(tmp_path: Path) -> None:
    small_lake(tmp_path, batches=3)
    lake = Lake.of(tmp_path)
    compact(lake)
    assert len(parquet_on_disk(tmp_path)) == 8
    # A query may have started just before compaction: its files stay for the grace.
    assert lake.vacuum("events", grace_s=3) == []
    time.sleep(3.5)
    assert len(lake.vacuum("events", grace_s=3)) == 6
    assert parquet_on_disk(tmp_path) == event_files(tmp_path)


READER = """
import duckdb, json, sys, time, os
con = duckdb.connect(sys.argv[1], read_only=True)
print("open", flush=True)
deadline = time.monotonic() + float(sys.argv[2])
stop = sys.argv[3]
erased = int(sys.argv[4])
while time.monotonic() < deadline and not os.path.exists(stop):
    try:
        row = con.execute(
            "SELECT count(*) FILTER (WHERE visitor_key <> $1), "
            "count(DISTINCT event_id) FILTER (WHERE visitor_key <> $1), "
            "count(*) FILTER (WHERE visitor_key = $1) FROM events WHERE site = 'shop'",
            [erased],
        ).fetchone()
        print(json.dumps({"others": row[0], "distinct": row[1], "erased": row[2]}), flush=True)
    except Exception as exc:
        print(json.dumps({"error": repr(exc)}), flush=True)
con.close()
"""


def start_reader(data_dir: Path, seconds: float) -> subprocess.Popen[str]:
    reader = subprocess.Popen(
        [
            product.python(),
            "-c",
            READER,
            str(data_dir / "clearcount.duckdb"),
            str(seconds),
            str(data_dir / "stop-reader"),
            str(ERASED),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None
    assert reader.stdout.readline() == "open\n"
    return reader


def test_a_reader_never_errors_while_files_are_rewritten_and_erasure_leaves_no_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compaction, erasure and loads rewrite and add files while a reader queries in a
    loop: no error, other visitors' rows never duplicated or missing, the erased
    visitor's rows gone all at once; after the grace no byte of the pseudonym is left."""
    monkeypatch.setenv("CLEARCOUNT_READER_GRACE_S", "3")
    small_lake(tmp_path)
    keys = KeyStore(tmp_path / "keys")
    reader = start_reader(tmp_path, 60)
    assert reader.stdout is not None
    first = reader.stdout.readline()  # one answer before anything changes
    try:
        compact(Lake.of(tmp_path))
        request_erasure(
            keys, "shop", "visitor_key", ERASED, block_days=1, now=dt.datetime.now(dt.UTC)
        )
        lake = Lake.of(tmp_path)
        assert process_pending(tmp_path, lake, keys) == []  # rewritten; completes after grace
        for batch in (6, 7):  # the loader adds files meanwhile; compaction merges them
            spool_rows(tmp_path, batch, site="blog")
            load_once(tmp_path, wait=False)
        compact(lake)
        vacuum_all(lake)
        time.sleep(1)
    finally:
        (tmp_path / "stop-reader").touch()
        out, _ = reader.communicate(timeout=patience.seconds(60))
    results = [json.loads(line) for line in [first, *out.splitlines()]]
    assert [r for r in results if "error" in r] == []
    assert len(results) > 20
    assert {(r["others"], r["distinct"]) for r in results} == {(108, 108)}
    erased = [r["erased"] for r in results]
    assert set(erased) == {12, 0}
    assert erased == sorted(erased, reverse=True)
    load_once(tmp_path)  # waits out the grace: the erasure completes
    assert keys.objects.list(RECEIPTS)
    assert pending_requests(keys.objects) == []
    assert holding(local_files(tmp_path / "lake"), ERASED) == []
    assert holding(local_files(tmp_path / "keys"), ERASED) == []
    assert holding(local_files(tmp_path / "spool"), ERASED) == []


def test_daily_maintenance_compacts_once_a_day(tmp_path: Path) -> None:
    small_lake(tmp_path, batches=3)
    sites = tmp_path / "sites.toml"
    sites.write_text('[sites.shop]\norigins = ["https://shop.example"]\n', encoding="utf-8")
    today = dt.date(2026, 11, 24)
    assert daily_maintenance(tmp_path, sites, today)
    assert len(event_files(tmp_path)) == 2
    assert '"action":"compaction"' in (tmp_path / "audit.jsonl").read_text()
    spool_rows(tmp_path, 9)
    load_once(tmp_path)
    assert not daily_maintenance(tmp_path, sites, today)  # done for the day
    assert len(event_files(tmp_path)) == 4


@pytest.mark.parametrize(
    ("written", "waited_for"),
    [
        ("before the rewrite", False),  # a crashed write's or a lost race's: never committed
        ("after the rewrite", True),  # may be a write still in flight
        ("long ago", False),  # older than any write in flight could be
    ],
)
def test_erasure_waits_for_and_deletes_orphans_that_hold_the_pseudonym(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str, waited_for: bool
) -> None:
    """A file written for a commit that never happened (a crash, a lost race) is named by no
    commit; if it holds the pseudonym, erasure completes only once it is gone: deleted by
    erasure when written before the erasure's rewrite (its writer read the rows the rewrite
    removed, so it can never commit) or older than any write in flight could be, waited
    for when younger than that and written since."""
    monkeypatch.setenv("CLEARCOUNT_READER_GRACE_S", "0")
    small_lake(tmp_path, batches=2)
    lake = Lake.of(tmp_path)
    keys = KeyStore(tmp_path / "keys")
    live = sorted(lake.table("events").file_uris())
    orphan = Path(live[0]).with_name("part-00000-orphan-c000.zstd.parquet")
    orphan.write_bytes(Path(live[0]).read_bytes())  # as a crashed writer leaves it
    request_erasure(keys, "shop", "visitor_key", ERASED, block_days=1, now=dt.datetime.now(dt.UTC))
    rewrite = time.time()
    process_pending(tmp_path, lake, keys)  # rewrites the live files
    stamp = {"before the rewrite": rewrite - 60, "after the rewrite": time.time() + 1}
    when = stamp.get(written, time.time() - 3600)
    os.utime(orphan, (when, when))
    completed = process_pending(tmp_path, lake, keys)
    assert orphan.exists() == waited_for
    assert len(completed) == (0 if waited_for else 1)
    if waited_for:
        old = time.time() - 3600
        os.utime(orphan, (old, old))
        assert len(process_pending(tmp_path, lake, keys)) == 1
        assert not orphan.exists()
    assert holding(local_files(tmp_path / "lake"), ERASED) == []


def test_a_compaction_that_lost_the_race_to_an_erasure_leaves_no_byte_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction planned on the version before an erasure's rewrite cannot commit (the
    rewrite removed the files it merged) and leaves its merged file behind, the pseudonym
    in it. Written after the rewrite, it looks like a write in flight: the erasure waits
    until it is older than any could be, deletes it and completes."""
    monkeypatch.setenv("CLEARCOUNT_READER_GRACE_S", "0")
    small_lake(tmp_path, batches=3)
    lake = Lake.of(tmp_path)
    keys = KeyStore(tmp_path / "keys")
    stale = DeltaTable(lake.uri("events"))  # the version a compaction begins from
    request_erasure(keys, "shop", "visitor_key", ERASED, block_days=1, now=dt.datetime.now(dt.UTC))
    assert process_pending(tmp_path, lake, keys) == []  # rewritten; completes a round later
    with pytest.raises(CommitFailedError):
        stale.optimize.compact()
    merged = [tmp_path / "lake" / "events" / f.path for f in orphans(lake, "events")]
    assert len(merged) == 2  # one per day, never committed, the pseudonym in each
    assert all(holding([(str(p), p.read_bytes())], ERASED) for p in merged)
    assert process_pending(tmp_path, lake, keys) == []
    old = time.time() - 3600
    for path in merged:
        os.utime(path, (old, old))
    assert len(process_pending(tmp_path, lake, keys)) == 1
    assert holding(local_files(tmp_path / "lake"), ERASED) == []


def test_a_vacuum_that_loses_a_race_to_a_rewrite_plans_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vacuum commits to the log too: a rewrite (an erasure, another collector's compaction)
    committed between its plan and its commit fails it, and it is redone on the new
    version, deleting what both left replaced."""
    small_lake(tmp_path, batches=3)
    lake = Lake.of(tmp_path)
    compact(lake)
    real_run = commit.run_vacuum
    raced: list[int] = []

    def racing(table: DeltaTable, plan: commit.VacuumPlan) -> list[str]:
        if not raced:  # another collector's rewrite commits meanwhile
            other = DeltaTable(lake.uri("events"))
            raced.append(
                int(other.delete("site = 'shop' AND date = '2026-11-21'")["num_removed_files"])
            )
        return real_run(table, plan)

    monkeypatch.setattr(commit, "run_vacuum", racing)
    deleted = lake.vacuum("events", grace_s=0)
    assert raced == [1]
    assert sorted(parquet_on_disk(tmp_path)) == event_files(tmp_path)  # nothing replaced is left
    assert len(deleted) == 3 * 2 + 1  # the compacted small files and the deleted day's file


def test_rows_committed_before_the_loader_saw_the_tombstone_are_erased_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another collector completes a forget while this loader, which read the tombstones
    before the forget, commits the visitor's rows: the loader files a new request."""
    monkeypatch.setenv("CLEARCOUNT_READER_GRACE_S", "0")
    keys = KeyStore(tmp_path / "keys")
    spool_rows(tmp_path, 0)
    numbered = number_segments(tmp_path / "spool", ready_segments(tmp_path / "spool"))
    unaware = Tombstones(keys.objects)  # read before the forget: empty
    request_erasure(keys, "shop", "visitor_key", ERASED, block_days=1, now=dt.datetime.now(dt.UTC))
    lake = Lake.of(tmp_path)
    assert process_pending(tmp_path, lake, keys)  # nothing loaded yet: completed at once
    load_segments(tmp_path, lake, numbered, keys, unaware)  # commits the rows after all
    assert len(pending_requests(keys.objects)) == 1
    load_once(tmp_path)
    ensure_views(tmp_path)
    assert [r for r in all_rows(tmp_path) if ERASED in r] == []
    assert holding(local_files(tmp_path / "lake"), ERASED) == []
