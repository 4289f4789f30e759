"""The lake's Delta tables, their schemas, and the DuckDB views analysts open.

Each kind of record is one Delta table (``events``, ``quarantine``,
``denied_counts``, ``consent_log``) partitioned by ``site`` and ``date``, at
the lake location: a local directory or ``s3://bucket/prefix``
(``--lake`` / ``CLEARCOUNT_LAKE``). The Delta log is the only record of
which files are live, so Spark, Trino, Polars and DuckDB read the tables as
they are, and every change (load, compaction, retention, erasure) is one
Delta commit that readers see whole or not at all.

File statistics are kept for the columns queries skip by (time, type), never
for a pseudonym: min/max values in the log would outlive an erasure.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa
from deltalake import DeltaTable, WriterProperties
from deltalake.exceptions import TableNotFoundError

from service.settings import Settings
from service.storage.location import Location, storage_options

log = logging.getLogger("clearcount.lake")

VIEWS_SQL = Path(__file__).parent / "views.sql"
PARTITION_BY = ["site", "date"]
WRITER = WriterProperties(compression="ZSTD")
PARTITION_FIELDS = [("site", pa.string()), ("date", pa.date32())]

TARGET = pa.struct(
    [
        ("tag", pa.string()),
        ("id", pa.string()),
        ("classes", pa.string()),
        ("href", pa.string()),
        ("text", pa.string()),
    ]
)

# One cell of a page view's hover grid: 20 columns, rows of 100 px, dwell time in ms.
HOVER_CELL = pa.struct([("col", pa.int8()), ("row", pa.int16()), ("ms", pa.int32())])

EVENT_FIELDS = [
    ("event_id", pa.string()),
    ("type", pa.string()),
    ("received_at", pa.timestamp("us", tz="UTC")),
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
    # Behaviour maps and web vitals (DESIGN §9), null unless the site turned them on.
    ("x", pa.int16()),  # ‰ of the document's width
    ("y", pa.int32()),  # px from the document's top
    ("vw", pa.int32()),  # viewport width, px
    ("selector", pa.string()),
    ("rage", pa.bool_()),
    ("dead", pa.bool_()),
    ("hover", pa.list_(HOVER_CELL)),
    ("lcp_ms", pa.int32()),
    ("inp_ms", pa.int32()),
    ("cls", pa.float64()),
    ("fcp_ms", pa.int32()),
    ("ttfb_ms", pa.int32()),
]

# Columns only, as the Parquet files hold them; the tables add the partition columns.
SCHEMAS: dict[str, pa.Schema] = {
    "events": pa.schema(EVENT_FIELDS),
    "quarantine": pa.schema([*EVENT_FIELDS, ("drop_reason", pa.string())]),
    "denied_counts": pa.schema(
        [("type", pa.string()), ("reason", pa.string()), ("count", pa.int64())]
    ),
    "consent_log": pa.schema(
        [
            ("received_at", pa.timestamp("us", tz="UTC")),
            ("visitor_key", pa.int64()),
            ("previous", pa.string()),
            ("consent", pa.string()),
            ("policy_version", pa.string()),
            ("source", pa.string()),
        ]
    ),
}
# The dashboard's rollup (``pipelines/lake/rollups.py``): a row per visit and UTC day the
# visit has events on, with the visit's properties; built from ``events`` by the loaders.
SESSION_FIELDS = [
    ("visitor_key", pa.int64()),
    ("visit_date", pa.date32()),
    ("started_at", pa.timestamp("us", tz="UTC")),
    ("day_pageviews", pa.int64()),
    (
        "pages",
        pa.list_(pa.struct([("path", pa.string()), ("views", pa.int64())])),
    ),
    (
        "hours",
        pa.list_(pa.struct([("hour", pa.int8()), ("views", pa.int64())])),
    ),
    ("pageviews", pa.int64()),
    ("interactions", pa.int64()),
    ("duration_s", pa.float64()),
    ("entry_path", pa.string()),
    ("exit_path", pa.string()),
    ("source", pa.string()),
    ("referrer_host", pa.string()),
    ("utm_source", pa.string()),
    ("utm_medium", pa.string()),
    ("utm_campaign", pa.string()),
    ("country", pa.string()),
    ("browser", pa.string()),
    ("os", pa.string()),
    ("device", pa.string()),
    ("paths", pa.list_(pa.string())),
    ("events_version", pa.int64()),  # the events table version the row was built from
]
SCHEMAS["sessions"] = pa.schema(SESSION_FIELDS)
# Tables made from other tables, never from the spool: rebuilt, not migrated or loaded.
ROLLUP_TABLES = ("sessions",)
TABLE_SCHEMAS: dict[str, pa.Schema] = {
    name: pa.schema([*schema, *PARTITION_FIELDS]) for name, schema in SCHEMAS.items()
}

# Statistics only where they help skip files, and never for a pseudonym.
STATS_COLUMNS = {
    "events": "received_at,type",
    "quarantine": "received_at,drop_reason",
    "denied_counts": "type",
    "consent_log": "received_at",
    "sessions": "visit_date",
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


def table_config(table: str) -> dict[str, str]:
    return {
        "delta.dataSkippingStatsColumns": STATS_COLUMNS[table],
        # A checkpoint every 50 commits keeps a busy table's log quick to read.
        "delta.checkpointInterval": "50",
    }


class LakeError(Exception):
    """The lake cannot be used as it is; the message says what to do."""


def lake_location(data_dir: Path) -> Location:
    """``--lake`` / ``CLEARCOUNT_LAKE``, or ``<data-dir>/lake``."""
    return Location.parse(Settings.from_env().lake, data_dir / "lake")


class Lake:
    """The lake's tables at one location; opens (and on first use creates) each table.

    A table once opened is kept and brought up to date by reading only the commits
    made since (4 ms where opening anew reads the log from its checkpoint, 20 ms),
    so a loader that keeps its ``Lake`` pays little for each round. One thread each.
    """

    def __init__(self, location: Location) -> None:
        self.location = location
        self.options = storage_options(location)
        self._open: dict[str, DeltaTable] = {}
        # Per table, the version through which replaced files are known to be deleted.
        self._vacuumed_through: dict[str, int] = {}

    @classmethod
    def of(cls, data_dir: Path) -> Lake:
        return cls(lake_location(data_dir))

    def uri(self, table: str) -> str:
        return self.location.child(table).uri

    def table(self, name: str) -> DeltaTable:
        """The table's latest version, created with its schema, partitions and settings when
        it does not exist yet. Collectors starting together race to create it; the loser
        finds the winner's table."""
        known = self._open.get(name)
        if known is not None:
            known.update_incremental()
            return known
        uri = self.uri(name)
        for attempt in range(5):
            with contextlib.suppress(TableNotFoundError):
                self._open[name] = add_missing_columns(
                    DeltaTable(uri, storage_options=self.options), name
                )
                return self._open[name]
            self._refuse_earlier_lake(name)
            try:
                self._open[name] = DeltaTable.create(
                    uri,
                    schema=TABLE_SCHEMAS[name],
                    partition_by=PARTITION_BY,
                    mode="ignore",
                    configuration=table_config(name),
                    storage_options=self.options,
                )
                return self._open[name]
            except Exception:  # another writer created version 0 between the two calls
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _refuse_earlier_lake(self, name: str) -> None:
        """A new table is never made over an earlier version's Parquet table: its rows would
        vanish from the views, retention and erasure."""
        folder = self.location.path
        if folder is None:
            return
        table = folder / name
        if (table / "_hidden.csv").exists() or any(table.glob("site=*/date=*/*.parquet")):
            raise LakeError(
                f"{table} is a Parquet table of an earlier clearcount: stop the collector and "
                "run `clearcount migrate-lake` to convert it to Delta"
            )

    def ensure_tables(self) -> None:
        for name in TABLE_SCHEMAS:
            self.table(name)

    def vacuum(self, name: str, grace_s: float | None = None) -> list[str]:
        """``vacuum`` of one table, skipped (one read of recent history) while no commit
        since this lake's last vacuum of it removed files."""
        from pipelines.lake.commit import plan_vacuum, reader_grace, retrying, run_vacuum

        grace = reader_grace() if grace_s is None else grace_s

        def change() -> list[str]:
            # Vacuum commits too: a rewrite committed meanwhile means planning again on it.
            table = self.table(name)
            plan = plan_vacuum(table, grace, self._vacuumed_through.get(name, -1))
            if plan is None:
                return []
            deleted = run_vacuum(table, plan)
            self._vacuumed_through[name] = plan.through
            return deleted

        return retrying(change, f"vacuum {name}")


def add_missing_columns(table: DeltaTable, name: str) -> DeltaTable:
    """The table with the columns later versions added (the behaviour fields, for one),
    which its older files lack and read as null. Collectors starting together race to add
    them: the loser finds them added."""
    from deltalake import Field

    for attempt in range(5):
        present = set(table.schema().to_arrow().names)
        missing = [f for f in TABLE_SCHEMAS[name] if f.name not in present]
        if not missing:
            return table
        try:
            table.alter.add_columns([Field.from_arrow(f) for f in missing])
            return table
        except Exception:  # a concurrent writer's commit (perhaps the same columns) came first
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
            table.update_incremental()
    return table


def ensure_tables(data_dir: Path) -> Lake:
    lake = Lake.of(data_dir)
    lake.ensure_tables()
    return lake


# ---- DuckDB views -------------------------------------------------------------------------

EXTENSIONS = ("delta", "httpfs")


def install_extensions(con: duckdb.DuckDBPyConnection) -> None:
    """Make DuckDB's Delta and S3 readers, shipped as PyPI packages, installed extensions.

    DuckDB cannot download extensions here, and the packages hold the binaries
    built for this DuckDB version. A link to each in DuckDB's extension
    directory (``~/.duckdb/extensions`` unless configured) is what ``INSTALL``
    would leave, without copying 100 MB: from then on any DuckDB of this
    version autoloads them when a view calls ``delta_scan``, so analysts open
    ``clearcount.duckdb`` with a plain ``duckdb.connect``.
    """
    installed = {
        name
        for name, is_installed in con.execute(
            "SELECT extension_name, installed FROM duckdb_extensions()"
        ).fetchall()
        if is_installed
    }
    missing = [name for name in EXTENSIONS if name not in installed]
    if not missing:
        return
    configured, platform = con.execute(
        "SELECT current_setting('extension_directory'), (SELECT platform FROM pragma_platform())"
    ).fetchall()[0]
    root = Path(configured) if configured else Path.home() / ".duckdb" / "extensions"
    target_dir = root / f"v{duckdb.__version__}" / platform
    target_dir.mkdir(parents=True, exist_ok=True)
    for name in missing:
        package = importlib.import_module(f"duckdb_extension_{name}")
        (binary,) = (Path(package.__file__ or "").parent / "extensions").glob(
            f"v{duckdb.__version__}/{name}.duckdb_extension"
        )
        link = target_dir / f"{name}.duckdb_extension"
        tmp = link.with_name(f".{link.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(binary)
        os.replace(tmp, link)  # atomic: a racing process links the same file


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(lake: Lake) -> str:
    """The views' DDL. DuckDB binds no parameters in DDL, so locations are quoted literals."""
    sql = VIEWS_SQL.read_text(encoding="utf-8")
    for table in TABLE_SCHEMAS:
        sql = sql.replace(f"{{{table}}}", _quote(lake.uri(table)))
    return sql


def s3_secret_sql(location: Location) -> str | None:
    """A session secret giving DuckDB the ``AWS_*`` settings delta-rs uses, for an S3 lake.

    DuckDB keeps no credentials in the database file, so every connection to an
    S3 lake creates this (``open_views`` does; the README shows it for analysts).
    """
    if not location.is_s3:
        return None
    options = storage_options(location)
    parts = ["TYPE s3", f"REGION {_quote(options['AWS_REGION'])}"]
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        parts += [f"KEY_ID {_quote(key)}", f"SECRET {_quote(secret)}"]
        if token := os.environ.get("AWS_SESSION_TOKEN"):
            parts.append(f"SESSION_TOKEN {_quote(token)}")
    if endpoint := options.get("AWS_ENDPOINT_URL"):
        host = endpoint.split("://", 1)[-1].rstrip("/")
        parts += [f"ENDPOINT {_quote(host)}", "URL_STYLE 'path'"]
        parts.append(f"USE_SSL {str(endpoint.startswith('https://')).lower()}")
    return f"CREATE OR REPLACE SECRET clearcount_lake ({', '.join(parts)})"


def connect_views(con: duckdb.DuckDBPyConnection, lake: Lake) -> duckdb.DuckDBPyConnection:
    install_extensions(con)
    secret = s3_secret_sql(lake.location)
    if secret is not None:
        con.execute(secret)
    return con


def ensure_views(data_dir: Path) -> bool:
    """Create or refresh the views in ``clearcount.duckdb``; False when a reader holds it.

    Views read each table's current Delta snapshot at query time, so they never
    need refreshing as data arrives; only a moved lake does.
    """
    lake = ensure_tables(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(data_dir / "clearcount.duckdb"))
    except duckdb.IOException:
        log.info("views not refreshed: the DuckDB file is open elsewhere")
        return False
    try:
        connect_views(con, lake)
        con.execute(view_sql(lake))
    finally:
        con.close()
    return True


_VIEWS: dict[str, duckdb.DuckDBPyConnection] = {}
_VIEWS_LOCK = threading.Lock()


def open_views(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the views: how every reader, ours included, sees the lake.

    Loading DuckDB's Delta reader costs about 0.3 s per database instance, so a
    process keeps one read-only instance per file and hands out a cursor of it
    (its own connection, a few milliseconds); closing the cursor leaves the
    instance for the next reader.
    """
    path = str((data_dir / "clearcount.duckdb").resolve())
    with _VIEWS_LOCK:
        base = _VIEWS.get(path)
        if base is None:
            base = _connect_read_only(path, Lake.of(data_dir))
            _VIEWS[path] = base
    return base.cursor()


def _connect_read_only(path: str, lake: Lake) -> duckdb.DuckDBPyConnection:
    for _ in range(40):
        try:
            con = duckdb.connect(path, read_only=True)
            break
        except duckdb.IOException as exc:
            # ensure_views holds the file for writing for a few milliseconds at start-up.
            if "lock" not in str(exc):
                raise
            time.sleep(0.05)
    else:
        con = duckdb.connect(path, read_only=True)
    connect_views(con, lake)
    con.execute("LOAD delta")
    return con


def close_views() -> None:
    """Close every instance ``open_views`` keeps (tests, before a data directory goes)."""
    with _VIEWS_LOCK:
        for con in _VIEWS.values():
            con.close()
        _VIEWS.clear()
