"""Compaction: a partition's small files merged into few, every row unchanged.

The loader writes one file per spool segment and partition, so a busy day
holds hundreds of small files, and every query opens each of them. Merging
streams row groups into files of up to ``TARGET_ROWS`` rows; erasure and
retention rewrite partitions through the same function, so they leave the
partitions they touch compacted too. Files whose spool segment still exists
are left alone: the loader may write them again after a crash.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.lake.commit import LakeChange, live_files
from pipelines.lake.tables import SCHEMA_PARTITION, SCHEMAS
from pipelines.rights import audit
from service.ingest.spool import SEGMENT_SUFFIX, iter_segments

TARGET_ROWS = 1_000_000
SMALL_ROWS = TARGET_ROWS // 2

Transform = Callable[[pa.Table], pa.Table]


def in_flight(spool_dir: Path) -> set[str]:
    """Lake file names the loader may still (re)write: one per unloaded segment."""
    return {f"part-{p.name.removesuffix(SEGMENT_SUFFIX)}.parquet" for p in iter_segments(spool_dir)}


def partitions(
    data_dir: Path, table: str, site: str | None = None, *, include_in_flight: bool = False
) -> Iterator[tuple[str, dt.date, list[Path]]]:
    """(site, day, live files) of each data partition of a table, schema files aside."""
    lake = data_dir / "lake"
    skip = set() if include_in_flight else in_flight(data_dir / "spool")
    by_dir: dict[Path, list[Path]] = {}
    pattern = f"site={site}/*/*.parquet" if site else "*/*/*.parquet"
    for path in live_files(lake, table, pattern):
        if path.name not in skip:
            by_dir.setdefault(path.parent, []).append(path)
    for directory, files in sorted(by_dir.items()):
        site_id = directory.parent.name.removeprefix("site=")
        day = directory.name.removeprefix("date=")
        if (site_id, day) != SCHEMA_PARTITION:
            yield site_id, dt.date.fromisoformat(day), files


def num_rows(path: Path) -> int:
    return int(pq.read_metadata(path).num_rows)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Columns of the unified schema, in its order; a file without one gets nulls."""
    columns = [
        table[f.name].cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def rewrite(change: LakeChange, files: list[Path], transform: Transform | None = None) -> int:
    """Replace ``files`` (one partition's) with as few new files as hold their rows.

    ``transform`` (erasure, pseudonym expiry) sees every batch; without one the
    rows are copied as they are. Returns the number of rows written.
    """
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    schema = schema.remove_metadata()
    writer: pq.ParquetWriter | None = None
    in_file = written = 0
    try:
        for path in files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=64 * 1024):
                rows = _conform(pa.Table.from_batches([batch]), schema)
                if transform is not None:
                    rows = transform(rows)
                if not rows.num_rows:
                    continue
                if writer is None or in_file >= TARGET_ROWS:
                    if writer is not None:
                        writer.close()
                    writer = pq.ParquetWriter(
                        change.new_file(files[0].parent), schema, compression="zstd"
                    )
                    in_file = 0
                writer.write_table(rows)
                in_file += rows.num_rows
                written += rows.num_rows
            change.remove(path)
    finally:
        if writer is not None:
            writer.close()
    return written


def small_files(files: list[Path]) -> list[Path]:
    return [f for f in files if num_rows(f) < SMALL_ROWS]


def compact(data_dir: Path, change: LakeChange, site: str | None = None) -> Counter[str]:
    """Merge the small files of every partition that has more than one.

    The caller holds the lake lock and commits ``change``.
    """
    counts: Counter[str] = Counter()
    for table in SCHEMAS:
        for _, _, files in partitions(data_dir, table, site):
            small = small_files(files)
            if len(small) < 2:
                continue
            before = len(change.added)
            rows = rewrite(change, small)
            counts["partitions"] += 1
            counts["files_merged"] += len(small)
            counts["files_written"] += len(change.added) - before
            counts["rows"] += rows
    return counts


def record(data_dir: Path, counts: Counter[str], actor: str) -> None:
    audit.record(data_dir, "compaction", actor=actor, **dict(counts))
