"""``clearcount migrate-lake``: a Parquet lake of an earlier version, converted to Delta.

Earlier versions kept hive-partitioned Parquet files with a hand-made commit
protocol beside them: per table a ``_hidden.csv`` list of files being swapped
in or retired, and a zero-row schema file under ``site=_schema``. Converting
in place keeps every data file where it is and writes each table's first
Delta commit naming exactly the files the old views showed:

1. files the hidden lists name are deleted (pending ones were never visible,
   superseded ones were already replaced: no reader of a stopped collector
   needs them);
2. the hidden lists and schema files move to ``<lake>/.migration/``, so the
   step can be undone;
3. each table is converted (its statistics kept for the same columns as a new
   table's, never for a pseudonym), and its row count checked against the
   Parquet footers; a mismatch undoes the conversion;
4. ``--confirm`` deletes ``.migration/``; ``--undo`` until then puts the
   Parquet lake back.

Accepted erasures and tombstones move from ``<data-dir>/erasure/`` to the keys
location, where every loader of this version looks for them.

Stop the collector first: nothing may write the lake while it is converted.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, Schema, convert_to_deltalake
from pyarrow import fs

from pipelines.lake.tables import (
    PARTITION_FIELDS,
    ROLLUP_TABLES,
    TABLE_SCHEMAS,
    add_missing_columns,
    table_config,
)
from service.storage.objects import Objects

BACKUP = ".migration"
HIDDEN_FILE = "_hidden.csv"
SCHEMA_SITE = "site=_schema"


class MigrationError(Exception):
    """The lake cannot be converted, or undone, as asked; the message says why."""


def _old_tables(lake: Path) -> list[str]:
    return [
        t
        for t in TABLE_SCHEMAS
        if t not in ROLLUP_TABLES and (lake / t).is_dir() and not (lake / t / "_delta_log").exists()
    ]


def _hidden(table_dir: Path) -> list[str]:
    path = table_dir / HIDDEN_FILE
    if not path.exists():
        return []
    return [row["file"] for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))]


def _data_files(table_dir: Path) -> list[Path]:
    return sorted(
        p for p in table_dir.glob("site=*/date=*/*.parquet") if p.parts[-3] != SCHEMA_SITE
    )


def migrate(lake: Path) -> str:
    """Convert every table of an old lake; a summary of what was converted."""
    tables = _old_tables(lake)
    if not tables:
        raise MigrationError(f"{lake} holds no Parquet lake of an earlier version to convert")
    backup = lake / BACKUP
    backup.mkdir(exist_ok=True)
    counts: dict[str, int] = {}
    versions: dict[str, int] = {}
    for table in tables:
        table_dir = lake / table
        for name in _hidden(table_dir):
            (table_dir / name).unlink(missing_ok=True)
        for leftover in table_dir.glob("site=*/date=*/.*.tmp"):
            leftover.unlink()
        kept = backup / table
        kept.mkdir(exist_ok=True)
        if (table_dir / HIDDEN_FILE).exists():
            shutil.move(table_dir / HIDDEN_FILE, kept / HIDDEN_FILE)
        if (table_dir / SCHEMA_SITE).exists():
            shutil.move(table_dir / SCHEMA_SITE, kept / SCHEMA_SITE)
        files = _data_files(table_dir)
        expected = sum(pq.read_metadata(p).num_rows for p in files)
        counts[table] = expected
        if not files:
            continue  # created empty, as a new lake's tables are, when the collector starts
        convert_to_deltalake(
            str(table_dir),
            partition_by=Schema.from_arrow(pa.schema(PARTITION_FIELDS)),
            partition_strategy="hive",
            configuration=table_config(table),
        )
        converted = DeltaTable(str(table_dir))
        add_missing_columns(converted, table)
        delta = DeltaTable(str(table_dir))
        # Read through Delta, as every reader will: the rows the log names, not the footers.
        found = _rows(delta, table_dir)
        if found != expected:
            undo(lake)
            raise MigrationError(
                f"{table}: {found} rows after conversion, {expected} before; undone"
            )
        counts[table] = found
        versions[table] = delta.version()
    (backup / "migration.json").write_bytes(
        orjson.dumps(
            {
                "converted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "rows": counts,
                "versions": versions,
            }
        )
    )
    summary = ", ".join(f"{t} {n} rows" for t, n in counts.items())
    return (
        f"converted {summary}; row counts verified. `clearcount migrate-lake --confirm` "
        f"deletes {backup}, `--undo` puts the Parquet lake back"
    )


def _rows(delta: DeltaTable, table_dir: Path) -> int:
    """The rows of the files the table's log names, read with pyarrow's own local filesystem.

    deltalake's default filesystem is Python code: an Arrow I/O thread may still hold one
    of its files a moment after the scan has returned, and when it lets go while the
    interpreter exits it is stopped taking the GIL, in a frame that may not unwind: the
    command, its work done and its summary printed, aborted ("terminate called without an
    active exception", SIGABRT). Files of Arrow's own filesystem hold no Python objects.
    """
    local = fs.SubTreeFileSystem(str(table_dir), fs.LocalFileSystem())
    return int(delta.to_pyarrow_dataset(filesystem=local).to_table(columns=[]).num_rows)


def undo(lake: Path) -> str:
    backup = lake / BACKUP
    if not backup.exists():
        raise MigrationError(f"{lake} has no conversion to undo (confirmed, or never converted)")
    record = backup / "migration.json"
    converted = orjson.loads(record.read_bytes())["versions"] if record.exists() else {}
    for table, version in converted.items():
        if DeltaTable(str(lake / table)).version() != version:
            raise MigrationError(
                f"{table} was written after the conversion (loads, compaction, erasure): the "
                "Parquet lake it would go back to no longer holds the same rows; not undone"
            )
    for table in TABLE_SCHEMAS:
        if table in ROLLUP_TABLES:  # built from the converted events: not part of the undo
            continue
        table_dir = lake / table
        shutil.rmtree(table_dir / "_delta_log", ignore_errors=True)
        kept = backup / table
        if not kept.exists():
            continue
        table_dir.mkdir(exist_ok=True)
        for name in (HIDDEN_FILE, SCHEMA_SITE):
            if (kept / name).exists():
                shutil.move(kept / name, table_dir / name)
    shutil.rmtree(backup)
    return f"{lake} is a Parquet lake again"


def confirm(lake: Path) -> str:
    backup = lake / BACKUP
    if not backup.exists():
        raise MigrationError(f"{lake} has no conversion waiting for confirmation")
    shutil.rmtree(backup)
    return f"conversion of {lake} confirmed; it can no longer be undone"


def move_erasure_queue(data_dir: Path, objects: Objects) -> int:
    """Earlier versions kept accepted erasures and tombstones in ``<data-dir>/erasure/``;
    they move to the shared keys location, where every loader looks. How many moved."""
    moved = 0
    old = data_dir / "erasure"
    for folder in ("pending", "tombstones"):
        for path in sorted((old / folder).glob("*")):
            if path.name.endswith(".result"):  # the old loader's bookkeeping: redone anew
                path.unlink()
                continue
            objects.put(f"erasure/{folder}/{path.name}", path.read_bytes())
            path.unlink()
            moved += 1
    return moved
