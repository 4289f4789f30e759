"""The spool's folder states and the loader's exactly-once promise."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import orjson
import pytest

from pipelines.lake import load
from pipelines.lake.load import commit_segments, load_once, number_segments
from pipelines.lake.tables import Lake, ensure_views
from service.ingest.spool import (
    ABANDONED_TMP_AGE_S,
    SEGMENT_SUFFIX,
    SpoolUnavailable,
    SpoolWriter,
    claim_abandoned,
    ready_segments,
    spool_dirs,
)
from tests import patience


def record(i: int, site: str = "shop") -> bytes:
    row = {
        "k": "e",
        "event_id": f"e{i:06d}",
        "site": site,
        "type": "pageview",
        "received_at": 1_795_000_000_000 + i,
        "url": "https://shop.example/",
        "path": "/",
        "consent": "implied",
        "visitor_key": i,
        "policy_version": "1",
    }
    return orjson.dumps(row) + b"\n"


def lake_ids(data_dir: Path) -> list[str]:
    ensure_views(data_dir)
    con = duckdb.connect(str(data_dir / "clearcount.duckdb"), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT event_id FROM events ORDER BY 1").fetchall()]
    finally:
        con.close()


def test_group_commit_makes_every_thread_durable(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "spool", max_bytes=10_000, max_age_s=60)
    threads = [threading.Thread(target=lambda i=i: writer.append([record(i)])) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    stats = load_once(tmp_path)
    assert stats.rows["events"] == 200
    assert len(lake_ids(tmp_path)) == 200


def test_group_commit_shares_syncs_and_acknowledges_only_synced_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads that write during a sync wait for the next one; none returns early."""
    writer = SpoolWriter(tmp_path / "spool", max_age_s=60)
    real_sync = os.fdatasync
    synced_upto: list[int] = [0]
    calls: list[int] = []

    def slow_sync(fd: int) -> None:
        size = os.fstat(fd).st_size  # what this sync is certain to cover
        time.sleep(0.02)
        real_sync(fd)
        calls.append(size)
        synced_upto[0] = max(synced_upto[0], size)

    monkeypatch.setattr(os, "fdatasync", slow_sync)
    durable_at_return: dict[int, int] = {}

    def post(i: int) -> None:
        writer.append([record(i)])
        durable_at_return[i] = synced_upto[0]

    threads = [threading.Thread(target=post, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    segment = next((tmp_path / "spool" / "active").glob("*.seg")).read_bytes()
    for i, durable in durable_at_return.items():
        end = segment.index(f'"e{i:06d}"'.encode())
        assert end < durable, f"record {i} was acknowledged before a sync covered it"
    assert len(durable_at_return) == 40
    assert len(calls) < 20, f"{len(calls)} syncs for 40 concurrent appends: no grouping"
    writer.close()


def test_after_a_sync_the_first_uncovered_waiter_leads_the_next_and_the_rest_wait_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writes and syncs; B and C write during that sync. A's sync covers only A, so
    B is woken to lead the second sync, and C is woken once, by B, when it is durable."""
    writer = SpoolWriter(tmp_path / "spool", max_age_s=60)
    real_sync = os.fdatasync
    first_sync_may_end = threading.Event()
    leaders: list[str] = []

    def sync(fd: int) -> None:
        leaders.append(threading.current_thread().name)
        if len(leaders) == 1:
            first_sync_may_end.wait(5)
        real_sync(fd)

    monkeypatch.setattr(os, "fdatasync", sync)
    threads = {
        name: threading.Thread(target=writer.append, args=([record(i)],), name=name)
        for i, name in enumerate("ABC")
    }
    threads["A"].start()
    deadline = time.monotonic() + patience.seconds(10)
    while not leaders and time.monotonic() < deadline:
        time.sleep(0.001)
    threads["B"].start()
    while len(getattr(writer._segment, "waiters", ())) < 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    threads["C"].start()
    while len(getattr(writer._segment, "waiters", ())) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    first_sync_may_end.set()
    for t in threads.values():
        t.join(5)
    assert leaders == ["A", "B"]
    assert not any(t.is_alive() for t in threads.values())
    writer.close()
    load_once(tmp_path)
    assert lake_ids(tmp_path) == ["e000000", "e000001", "e000002"]


def test_a_failed_sync_fails_every_append_it_covered_and_retires_the_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = SpoolWriter(tmp_path / "spool", max_age_s=60)
    writer.append([record(1)])
    real_sync = os.fdatasync
    gate = threading.Event()

    def failing_sync(fd: int) -> None:
        gate.wait(5)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing_sync)
    outcomes: dict[int, str] = {}

    def post(i: int) -> None:
        try:
            writer.append([record(i)])
            outcomes[i] = "acknowledged"
        except SpoolUnavailable:
            outcomes[i] = "refused"

    threads = [threading.Thread(target=post, args=(i,)) for i in range(2, 10)]
    for t in threads:
        t.start()
    time.sleep(0.1)  # all eight wrote and wait on the one sync
    gate.set()
    for t in threads:
        t.join()
    assert outcomes == dict.fromkeys(range(2, 10), "refused")
    monkeypatch.setattr(os, "fdatasync", real_sync)
    writer.append([record(10)])  # a fresh segment
    writer.close()
    assert len(ready_segments(tmp_path / "spool")) == 2
    load_once(tmp_path)
    assert {"e000001", "e000010"} <= set(lake_ids(tmp_path))


def test_segments_rotate_by_size(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "spool", max_bytes=500, max_age_s=60)
    for i in range(20):
        writer.append([record(i)])
    assert len(ready_segments(tmp_path / "spool")) >= 5


def test_segments_rotate_by_age(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "spool", max_bytes=10**9, max_age_s=0.0)
    writer.append([record(1)])
    writer.rotate_if_stale()
    assert len(ready_segments(tmp_path / "spool")) == 1


def test_live_segment_is_not_claimed_but_dead_writers_are(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    writer = SpoolWriter(spool, max_age_s=60)
    writer.append([record(1)])
    assert claim_abandoned(spool) == []  # the live writer holds its flock
    # A writer in another process that dies by SIGKILL leaves an unlocked active segment.
    code = (
        "import os, signal, sys; from pathlib import Path; "
        "from service.ingest.spool import SpoolWriter; "
        "from tests.unit.test_spool_and_loader import record; "
        f"w = SpoolWriter(Path({str(spool)!r}), max_age_s=60); w.append([record(2)]); "
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    subprocess.run([sys.executable, "-c", code], check=False, cwd=Path(__file__).parents[2])
    claimed = claim_abandoned(spool)
    assert len(claimed) == 1
    writer.close()
    load_once(tmp_path)
    assert lake_ids(tmp_path) == ["e000001", "e000002"]


@pytest.mark.parametrize(
    ("age_s", "removed"),
    [
        (0.0, False),  # a live writer between creating its file and locking it
        (ABANDONED_TMP_AGE_S + 5, True),  # a writer that died in between
    ],
)
def test_unlocked_temporary_segment_is_removed_only_when_old(
    tmp_path: Path, age_s: float, removed: bool
) -> None:
    spool = tmp_path / "spool"
    active, _, _ = spool_dirs(spool)
    tmp = active / f".00000000000000000001-1-abcd{SEGMENT_SUFFIX}"
    tmp.touch()
    then = time.time() - age_s
    os.utime(tmp, (then, then))
    assert claim_abandoned(spool) == []
    assert tmp.exists() is not removed


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "spool", max_age_s=60)
    writer.append([record(1), record(2)])
    writer.close()
    (segment,) = ready_segments(tmp_path / "spool")
    with segment.open("ab") as f:
        f.write(record(3)[:40])  # a write whose fsync never returned: never acknowledged
    load_once(tmp_path)
    assert lake_ids(tmp_path) == ["e000001", "e000002"]


def test_unreadable_lines_are_moved_aside_with_an_error_file(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "spool", max_age_s=60)
    writer.append([record(1), b"{not json\n", record(2)])
    writer.close()
    stats = load_once(tmp_path)
    assert stats.bad_lines == 1
    failed = tmp_path / "spool" / "failed"
    assert any(p.suffix == ".error" for p in failed.iterdir())
    assert lake_ids(tmp_path) == ["e000001", "e000002"]


def test_crash_between_commit_and_segment_delete_loads_once(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "spool", max_age_s=60)
    writer.append([record(i) for i in range(50)])
    writer.close()
    numbered = number_segments(tmp_path / "spool", ready_segments(tmp_path / "spool"))
    lake = Lake.of(tmp_path)
    commit_segments(tmp_path, lake, numbered)  # ...and the process dies before the unlink
    version = lake.table("events").version()
    load_once(tmp_path)
    ids = lake_ids(tmp_path)
    assert len(ids) == 50
    assert len(set(ids)) == 50
    assert lake.table("events").version() == version  # nothing committed twice


def test_crash_between_two_tables_commits_loads_each_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round commits events, then dies before quarantine: the next round commits only
    quarantine's rows, and a segment that arrived meanwhile goes to both."""
    quarantined = orjson.loads(record(99))
    quarantined.update(k="q", event_id="q000099", drop_reason="bot")
    writer = SpoolWriter(tmp_path / "spool", max_age_s=60)
    writer.append([record(1), orjson.dumps(quarantined) + b"\n"])
    writer.close()
    real_append = load._append

    def dies_at_quarantine(lake: Lake, table: str, *args: object) -> None:
        if table == "quarantine":
            raise OSError("killed")
        real_append(lake, table, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(load, "_append", dies_at_quarantine)
    with pytest.raises(OSError, match="killed"):
        load_once(tmp_path)
    monkeypatch.setattr(load, "_append", real_append)
    writer = SpoolWriter(tmp_path / "spool", max_age_s=60)
    writer.append([record(2)])
    writer.close()
    load_once(tmp_path)
    assert lake_ids(tmp_path) == ["e000001", "e000002"]
    con = duckdb.connect(str(tmp_path / "clearcount.duckdb"), read_only=True)
    assert con.execute("SELECT event_id FROM quarantine").fetchall() == [("q000099",)]


def test_two_collectors_load_into_one_lake_exactly_once(tmp_path: Path) -> None:
    """Two data directories (two collectors) share a lake and load at the same time."""
    lake = tmp_path / "shared-lake"
    script = (
        "import sys, orjson; from pathlib import Path;"
        "from service.ingest.spool import SpoolWriter; from pipelines.lake.load import load_once;"
        "d = Path(sys.argv[1]); start = int(sys.argv[2])\n"
        "for round in range(6):\n"
        "    w = SpoolWriter(d / 'spool', max_age_s=60)\n"
        "    w.append([orjson.dumps({'k': 'e', 'event_id': f'e{start + round * 10 + i:06d}',"
        " 'site': 'shop', 'type': 'pageview', 'received_at': 1795000000000 + i, 'url': 'u',"
        " 'path': '/', 'consent': 'implied', 'policy_version': '1'}) + b'\\n' for i in range(10)])\n"
        "    w.close(); load_once(d)\n"
    )
    env = {**os.environ, "CLEARCOUNT_LAKE": str(lake)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path / name), str(start)], env=env)
        for name, start in (("a", 0), ("b", 1000))
    ]
    for p in procs:
        assert p.wait(timeout=patience.seconds(120)) == 0
    os.environ["CLEARCOUNT_LAKE"] = str(lake)
    try:
        ids = lake_ids(tmp_path / "a")
    finally:
        del os.environ["CLEARCOUNT_LAKE"]
    assert len(ids) == 120
    assert len(set(ids)) == 120


def test_write_failure_raises_spool_unavailable_and_leaves_no_torn_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = SpoolWriter(tmp_path / "spool", max_age_s=60)
    writer.append([record(1)])
    real_write = os.write

    def failing_write(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data)[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(SpoolUnavailable):
        writer.append([record(2)])
    monkeypatch.setattr(os, "write", real_write)
    writer.append([record(3)])
    writer.close()
    load_once(tmp_path)
    assert lake_ids(tmp_path) == ["e000001", "e000003"]


def test_denied_records_become_aggregate_counts(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "spool", max_age_s=60)
    denied = {"k": "d", "site": "shop", "date": "2026-11-24", "type": "pageview", "reason": "gpc"}
    writer.append([orjson.dumps(denied) + b"\n"] * 3)
    writer.close()
    load_once(tmp_path)
    ensure_views(tmp_path)
    con = duckdb.connect(str(tmp_path / "clearcount.duckdb"), read_only=True)
    rows = con.execute(
        "SELECT site, CAST(date AS VARCHAR), type, reason, count FROM denied_counts"
    ).fetchall()
    assert rows == [("shop", "2026-11-24", "pageview", "gpc", 3)]


def test_views_exist_before_any_event(tmp_path: Path) -> None:
    ensure_views(tmp_path)
    con = duckdb.connect(str(tmp_path / "clearcount.duckdb"), read_only=True)
    for view in ("events", "quarantine", "denied_counts"):
        assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)  # noqa: S608
