"""Storage limits: delete what is older than a site's retention_days, and strip the
stable pseudonyms of granted rows older than its pseudonym_days.

Partitions are days, so age is the partition's date. Deleting retires whole
day partitions; nulling rewrites a partition's files as new ones. Both are
lake changes (pipelines/lake/commit.py): readers see a day before or after, never
half of it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.lake.commit import LakeChange
from pipelines.lake.compact import num_rows, partitions, rewrite, small_files
from pipelines.rights import audit
from service.sites import Site

TABLES = ("events", "quarantine", "denied_counts", "consent_log")
PSEUDONYMS = ("visitor_key", "user_key", "ip_prefix")


def _strip(rows: pa.Table) -> pa.Table:
    """The rows with the stable pseudonyms of granted ones nulled."""
    targets = _granted_with_pseudonym(rows)
    for column in (c for c in PSEUDONYMS if c in rows.column_names):
        index = rows.schema.get_field_index(column)
        nulls = pa.nulls(rows.num_rows, rows.schema.field(column).type)
        rows = rows.set_column(index, column, pc.if_else(targets, nulls, rows[column]))
    return rows


def _granted_with_pseudonym(rows: pa.Table) -> pa.Array:
    # Events carry their consent; every consent_log row's pseudonym expires.
    granted = (
        pc.fill_null(pc.equal(rows["consent"], "granted"), False)
        if "consent" in rows.column_names and "type" in rows.column_names
        else pa.array([True] * rows.num_rows)
    )
    has_any = pa.array([False] * rows.num_rows)
    for column in (c for c in PSEUDONYMS if c in rows.column_names):
        has_any = pc.or_(has_any, pc.is_valid(rows[column]))
    return pc.and_(granted, has_any)


def _to_strip(path: Path) -> int:
    names = pq.read_schema(path).names
    columns = [c for c in ("consent", "type", *PSEUDONYMS) if c in names]
    return pc.sum(_granted_with_pseudonym(pq.read_table(path, columns=columns))).as_py() or 0


def apply_retention(
    data_dir: Path, sites: Mapping[str, Site], today: dt.date, change: LakeChange
) -> dict[str, Counter[str]]:
    """Run both limits for every site; the caller holds the lake lock and commits ``change``.

    Expired days leave whole; partitions whose pseudonyms expire are rewritten
    (and compacted on the way) as one change, so readers see them switch at once.
    """
    report: dict[str, Counter[str]] = {}
    for site in sites.values():
        counts: Counter[str] = Counter()
        delete_before = today - dt.timedelta(days=site.retention_days)
        strip_before = today - dt.timedelta(days=site.pseudonym_days)
        for table in TABLES:
            for _, day, files in partitions(data_dir, table, site.id):
                if day < delete_before:
                    counts[f"{table}_rows_deleted"] += sum(num_rows(f) for f in files)
                    for f in files:
                        change.remove(f)
                elif day < strip_before and table != "denied_counts":
                    hits = {f: _to_strip(f) for f in files}
                    if any(hits.values()):
                        stale = {f for f, n in hits.items() if n}
                        rewrite(change, sorted(stale | set(small_files(files))), _strip)
                        counts[f"{table}_pseudonyms_nulled"] += sum(hits.values())
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
