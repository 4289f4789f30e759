"""Storage limits: delete what is older than a site's retention_days, and strip the
stable pseudonyms of granted rows older than its pseudonym_days.

Partitions are days, so age is the partition's date. Deleting removes whole
day partitions; nulling rewrites files under their own names (atomic
rename), so readers of other days are never disturbed.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines import audit
from pipelines.lake import SCHEMA_PARTITION, write_parquet_atomic
from service.sites import Site

TABLES = ("events", "quarantine", "denied_counts", "consent_log")
PSEUDONYMS = ("visitor_key", "user_key", "ip_prefix")


def _partitions(lake: Path, table: str, site: str) -> list[tuple[dt.date, Path]]:
    out = []
    for directory in sorted((lake / table / f"site={site}").glob("date=*")):
        day = directory.name.removeprefix("date=")
        if day != SCHEMA_PARTITION[1]:
            out.append((dt.date.fromisoformat(day), directory))
    return out


def strip_pseudonyms(path: Path) -> int:
    """Null the stable pseudonyms of granted rows in one file; the rows changed."""
    table = pq.read_table(path)
    columns = [c for c in PSEUDONYMS if c in table.column_names]
    granted = (
        pc.equal(table["consent"], "granted")
        if "consent" in table.column_names and "type" in table.column_names
        else pa.array([True] * table.num_rows)
    )
    has_any = pa.array([False] * table.num_rows)
    for column in columns:
        has_any = pc.or_(has_any, pc.is_valid(table[column]))
    targets = pc.and_(pc.fill_null(granted, False), has_any)
    changed = pc.sum(targets).as_py() or 0
    if not changed:
        return 0
    for column in columns:
        index = table.schema.get_field_index(column)
        nulls = pa.nulls(table.num_rows, table.schema.field(column).type)
        table = table.set_column(index, column, pc.if_else(targets, nulls, table[column]))
    write_parquet_atomic(table, path)
    return int(changed)


def apply_retention(
    data_dir: Path, sites: Mapping[str, Site], today: dt.date
) -> dict[str, Counter[str]]:
    """Run both limits for every site; the caller holds the lake lock."""
    lake = data_dir / "lake"
    report: dict[str, Counter[str]] = {}
    for site in sites.values():
        counts: Counter[str] = Counter()
        delete_before = today - dt.timedelta(days=site.retention_days)
        strip_before = today - dt.timedelta(days=site.pseudonym_days)
        for table in TABLES:
            for day, directory in _partitions(lake, table, site.id):
                if day < delete_before:
                    counts[f"{table}_rows_deleted"] += sum(
                        pq.read_metadata(p).num_rows for p in directory.glob("*.parquet")
                    )
                    shutil.rmtree(directory)
                elif day < strip_before and table != "denied_counts":
                    for path in sorted(directory.glob("*.parquet")):
                        counts[f"{table}_pseudonyms_nulled"] += strip_pseudonyms(path)
        report[site.id] = counts
        audit.record(
            data_dir,
            "retention",
            actor="retention",
            site=site.id,
            **dict(counts),
            deleted_before=delete_before.isoformat(),
            pseudonyms_before=strip_before.isoformat(),
        )
    return report
