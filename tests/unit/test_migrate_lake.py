"""``clearcount migrate-lake``: a Parquet lake of an earlier version becomes Delta tables in
place, row counts verified, reversible until confirmed."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.lake.load import load_once
from pipelines.lake.tables import ROLLUP_TABLES, SCHEMAS, ensure_views
from service.ingest.spool import SpoolWriter
from tests import patience, product

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 11, 20)


def old_schema(table: str) -> pa.Schema:
    """The earlier version's files: times in milliseconds, no partition columns."""
    return pa.schema(
        [
            (f.name, pa.timestamp("ms", tz="UTC")) if f.name == "received_at" else f
            for f in SCHEMAS[table]
        ]
    )


def old_events(n: int, start: int) -> pa.Table:
    when = dt.datetime.combine(DAY, dt.time(12), dt.UTC)
    rows = [
        {
            "event_id": f"e{start + i}",
            "type": "pageview",
            "received_at": when,
            "path": "/",
            "consent": "implied",
            "visitor_key": 0x7000_0000 + i,
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows, schema=old_schema("events"))


def old_lake(data_dir: Path) -> Path:
    """Two live files, one superseded file the hidden list names, the schema partition."""
    lake = data_dir / "lake"
    for table in SCHEMAS:
        if table in ROLLUP_TABLES:
            continue  # made after the Delta lake: no earlier version had it
        schema_file = lake / table / "site=_schema" / "date=1970-01-01" / "schema.parquet"
        schema_file.parent.mkdir(parents=True)
        pq.write_table(old_schema(table).empty_table(), schema_file)
        (lake / table / "_hidden.csv").write_text("file,state,since\n", encoding="utf-8")
    day = lake / "events" / "site=shop" / f"date={DAY.isoformat()}"
    day.mkdir(parents=True)
    pq.write_table(old_events(30, 0), day / "part-a.parquet")
    pq.write_table(old_events(20, 30), day / "c-b.parquet")
    pq.write_table(old_events(50, 0), day / "c-replaced.parquet")  # superseded by the two above
    (lake / "events" / "_hidden.csv").write_text(
        f"file,state,since\nsite=shop/date={DAY.isoformat()}/c-replaced.parquet,superseded,1.0\n",
        encoding="utf-8",
    )
    return lake


def migrate(data_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*product.clearcount(), "migrate-lake", "--data-dir", str(data_dir), *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=patience.COMMAND_S,
        check=False,
    )


def events(data_dir: Path) -> list[tuple[str, int]]:
    ensure_views(data_dir)
    con = duckdb.connect(str(data_dir / "clearcount.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT event_id, epoch_ms(received_at) FROM events ORDER BY event_id"
        ).fetchall()
    finally:
        con.close()


def test_migrate_converts_in_place_and_can_be_undone_until_confirmed(tmp_path: Path) -> None:
    lake = old_lake(tmp_path)
    pending = tmp_path / "erasure" / "pending"
    pending.mkdir(parents=True)
    (pending / "20261120T120000-abc.json").write_bytes(
        b'{"id":"20261120T120000-abc","site":"shop","column":"visitor_key","key":1,'
        b'"requested_at":"2026-11-20T12:00:00+00:00"}'
    )
    live_before = sorted(p.name for p in lake.glob("events/site=shop/*/*.parquet"))
    result = migrate(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "events 50 rows" in result.stdout
    assert "row counts verified" in result.stdout
    assert "moved 1 erasure request(s)" in result.stdout
    assert (tmp_path / "keys" / "erasure" / "pending" / "20261120T120000-abc.json").exists()
    assert not list(pending.iterdir())
    assert (lake / "events" / "_delta_log").is_dir()
    # The data files stayed where they were; the superseded one is gone.
    assert sorted(p.name for p in lake.glob("events/site=shop/*/*.parquet")) == [
        n for n in live_before if n != "c-replaced.parquet"
    ]
    rows = events(tmp_path)
    assert len(rows) == 50
    assert len({r[0] for r in rows}) == 50
    noon = int(dt.datetime.combine(DAY, dt.time(12), dt.UTC).timestamp() * 1000)
    assert {r[1] for r in rows} == {noon}
    # Undo puts the Parquet lake back as the earlier version reads it.
    undone = migrate(tmp_path, "--undo")
    assert undone.returncode == 0, undone.stderr
    assert not (lake / "events" / "_delta_log").exists()
    assert (lake / "events" / "_hidden.csv").exists()
    assert (lake / "events" / "site=_schema" / "date=1970-01-01" / "schema.parquet").exists()
    # Convert again and confirm: the way back is gone.
    assert migrate(tmp_path).returncode == 0
    confirmed = migrate(tmp_path, "--confirm")
    assert confirmed.returncode == 0, confirmed.stderr
    assert not (lake / ".migration").exists()
    assert migrate(tmp_path, "--undo").returncode == 1
    # The loader appends to the converted table: old and new files read as one.
    writer = SpoolWriter(tmp_path / "spool", max_age_s=60)
    new = {"k": "e", "event_id": "new", "site": "shop", "type": "pageview"}
    writer.append([orjson.dumps(new | {"received_at": noon, "consent": "implied"}) + b"\n"])
    writer.close()
    load_once(tmp_path)
    rows = events(tmp_path)
    assert len(rows) == 51
    assert ("new", noon) in rows


def test_a_delta_lake_is_not_converted_again(tmp_path: Path) -> None:
    ensure_views(tmp_path)
    result = migrate(tmp_path)
    assert result.returncode == 1
    assert "no Parquet lake of an earlier version" in result.stderr


def test_a_collector_refuses_to_start_on_a_lake_not_yet_converted(tmp_path: Path) -> None:
    """A new Delta table over the old files would hide their rows from views and erasure."""
    old_lake(tmp_path)
    result = subprocess.run(
        [*product.clearcount(), "load", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=patience.COMMAND_S,
        check=False,
    )
    assert result.returncode == 2
    assert "clearcount migrate-lake" in result.stderr
    assert not (tmp_path / "lake" / "events" / "_delta_log").exists()


def test_undo_is_refused_once_the_converted_lake_was_written(tmp_path: Path) -> None:
    old_lake(tmp_path)
    assert migrate(tmp_path).returncode == 0
    writer = SpoolWriter(tmp_path / "spool", max_age_s=60)
    new = {"k": "e", "event_id": "new", "site": "shop", "type": "pageview"}
    writer.append([orjson.dumps(new | {"received_at": 1795000000000}) + b"\n"])
    writer.close()
    load_once(tmp_path)
    undone = migrate(tmp_path, "--undo")
    assert undone.returncode == 1
    assert "written after the conversion" in undone.stderr
    assert (tmp_path / "lake" / "events" / "_delta_log").exists()
