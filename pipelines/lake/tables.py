"""The lake's layout and schemas, and the DuckDB views analysts open.

Files are immutable and hive-partitioned ``<table>/site=<id>/date=<YYYY-MM-DD>/``;
the partition columns live in the path only. Each table also holds one
zero-row schema file under ``site=_schema``, so the views can be created (and
keep their column types) before the first event arrives.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.lake.commit import ensure_hidden_lists, hidden_path
from service.ingest.spool import fsync_dir, fsync_path

log = logging.getLogger("clearcount.lake")

SQL_DIR = Path(__file__).parent
SCHEMA_PARTITION = ("_schema", "1970-01-01")

TARGET = pa.struct(
    [
        ("tag", pa.string()),
        ("id", pa.string()),
        ("classes", pa.string()),
        ("href", pa.string()),
        ("text", pa.string()),
    ]
)

EVENT_FIELDS = [
    ("event_id", pa.string()),
    ("type", pa.string()),
    ("received_at", pa.timestamp("ms", tz="UTC")),
    ("url", pa.string()),
    ("path", pa.string()),
    ("referrer", pa.string()),
    ("referrer_host", pa.string()),
    ("source", pa.string()),
    ("utm_source", pa.string()),
    ("utm_medium", pa.string()),
    ("utm_campaign", pa.string()),
    ("utm_term", pa.string()),
    ("utm_content", pa.string()),
    ("consent", pa.string()),
    ("visitor_key", pa.int64()),
    ("user_key", pa.int64()),
    ("ip_prefix", pa.string()),
    ("country", pa.string()),
    ("browser", pa.string()),
    ("browser_version", pa.string()),
    ("os", pa.string()),
    ("device", pa.string()),
    ("name", pa.string()),
    ("props", pa.string()),
    ("target", TARGET),
    ("depth", pa.int16()),
    ("engaged_ms", pa.int64()),
    ("policy_version", pa.string()),
]

SCHEMAS: dict[str, pa.Schema] = {
    "events": pa.schema(EVENT_FIELDS),
    "quarantine": pa.schema([*EVENT_FIELDS, ("drop_reason", pa.string())]),
    "denied_counts": pa.schema(
        [("type", pa.string()), ("reason", pa.string()), ("count", pa.int64())]
    ),
    "consent_log": pa.schema(
        [
            ("received_at", pa.timestamp("ms", tz="UTC")),
            ("visitor_key", pa.int64()),
            ("previous", pa.string()),
            ("consent", pa.string()),
            ("policy_version", pa.string()),
            ("source", pa.string()),
        ]
    ),
}

# Spool record kind → lake table.
TABLE_OF_KIND = {"e": "events", "q": "quarantine", "d": "denied_counts", "c": "consent_log"}

# Every field any spool record carries; times are epoch milliseconds there.
SPOOL_SCHEMA = pa.schema(
    [
        ("k", pa.string()),
        ("site", pa.string()),
        *[(n, pa.int64() if n == "received_at" else t) for n, t in EVENT_FIELDS],
        ("drop_reason", pa.string()),
        ("date", pa.string()),
        ("reason", pa.string()),
        ("previous", pa.string()),  # consent records; "source" is shared with events
    ]
)


def partition_dir(lake: Path, table: str, site: str, date: str) -> Path:
    return lake / table / f"site={site}" / f"date={date}"


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write beside the target, fsync, then rename: readers see all of it or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        fsync_path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(path.parent)


def ensure_schema_files(lake: Path) -> None:
    """Each table's zero-row schema file and (empty) hidden list, which the views need."""
    for table, schema in SCHEMAS.items():
        path = partition_dir(lake, table, *SCHEMA_PARTITION) / "schema.parquet"
        if not path.exists():
            write_parquet_atomic(schema.empty_table(), path)
    ensure_hidden_lists(lake, SCHEMAS)


def table_glob(lake: Path, table: str) -> str:
    return str(lake.resolve() / table / "*" / "*" / "*.parquet")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(lake: Path) -> str:
    """The views' DDL. DuckDB binds no parameters in DDL, so paths are quoted literals."""
    sql = (SQL_DIR / "views.sql").read_text(encoding="utf-8")
    for table in SCHEMAS:
        sql = sql.replace(f"{{{table}_glob}}", _quote(table_glob(lake, table)))
        sql = sql.replace(f"{{{table}_hidden}}", _quote(str(hidden_path(lake.resolve(), table))))
    return sql


def ensure_views(data_dir: Path) -> bool:
    """Create or refresh the views in ``clearcount.duckdb``; False when a reader holds it.

    Views resolve their file lists at query time, so they never need refreshing
    as files come and go; only a moved data directory does.
    """
    lake = data_dir / "lake"
    ensure_schema_files(lake)
    try:
        con = duckdb.connect(str(data_dir / "clearcount.duckdb"))
    except duckdb.IOException:
        log.info("views not refreshed: the DuckDB file is open elsewhere")
        return False
    try:
        con.execute(view_sql(lake))
    finally:
        con.close()
    return True


def open_views(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the views: how every reader, ours included, sees the lake.

    Holding ``clearcount.duckdb`` open is what tells lake writers that a reader
    may be mid-query (pipelines/lake/commit.py).
    """
    path = str(data_dir / "clearcount.duckdb")
    for _ in range(40):
        try:
            return duckdb.connect(path, read_only=True)
        except duckdb.IOException as exc:
            # ensure_views holds the file for writing for a few milliseconds at start-up.
            if "lock" not in str(exc):
                raise
            time.sleep(0.05)
    return duckdb.connect(path, read_only=True)
