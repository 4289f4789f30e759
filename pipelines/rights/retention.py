"""Storage limits: delete what is older than a site's retention_days, and strip the
stable pseudonyms of granted rows older than its pseudonym_days.

Partitions are days, so age is the partition's date. Deleting drops whole day
partitions; nulling rewrites the files that hold granted pseudonyms. Each is
one Delta commit per table (readers see a day before or after, never half of
it), and the files they replace are deleted by ``vacuum`` after the readers'
grace.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa

from pipelines.lake.commit import quote, retrying
from pipelines.lake.tables import ROLLUP_TABLES, TABLE_SCHEMAS, Lake
from pipelines.rights import audit
from service.sites import Site

PSEUDONYMS = ("visitor_key", "user_key", "ip_prefix")


def _nulling(table: str) -> tuple[dict[str, str], str]:
    """The columns to null and the rows whose pseudonyms expire: granted events (events
    carry their consent), every consent_log row."""
    schema = TABLE_SCHEMAS[table]
    columns = [c for c in PSEUDONYMS if c in schema.names]
    updates = {
        c: f"CAST(NULL AS {'BIGINT' if schema.field(c).type == pa.int64() else 'STRING'})"
        for c in columns
    }
    has_any = "(" + " OR ".join(f"{c} IS NOT NULL" for c in columns) + ")"
    granted = "consent = 'granted' AND " if "type" in schema.names else ""
    return updates, granted + has_any


def apply_retention(
    data_dir: Path, lake: Lake, sites: Mapping[str, Site], today: dt.date
) -> dict[str, Counter[str]]:
    """Run both limits for every site; what each removed or nulled, per site."""
    report: dict[str, Counter[str]] = {}
    for site in sites.values():
        counts: Counter[str] = Counter()
        delete_before = today - dt.timedelta(days=site.retention_days)
        strip_before = today - dt.timedelta(days=site.pseudonym_days)
        for table in TABLE_SCHEMAS:
            old = f"site = {quote(site.id)} AND date < '{delete_before.isoformat()}'"

            def delete(table: str = table, old: str = old) -> dict[str, int]:
                metrics: dict[str, int] = lake.table(table).delete(old)
                return metrics

            deleted = retrying(delete, f"retention {table}")
            counts[f"{table}_rows_deleted"] += int(deleted.get("num_deleted_rows", 0))
            if table == "denied_counts" or table in ROLLUP_TABLES:
                # a rollup's expired pseudonyms go when its days are rebuilt from the
                # events nulled here (the events' change marks those days for rebuilding)
                continue
            updates, expiring = _nulling(table)
            stale = (
                f"site = {quote(site.id)} AND date < '{strip_before.isoformat()}' AND {expiring}"
            )

            def strip(
                table: str = table, stale: str = stale, updates: dict[str, str] = updates
            ) -> dict[str, int]:
                metrics: dict[str, int] = lake.table(table).update(updates=updates, predicate=stale)
                return metrics

            nulled = retrying(strip, f"pseudonym expiry {table}")
            counts[f"{table}_pseudonyms_nulled"] += int(nulled.get("num_updated_rows", 0))
        counts = Counter({k: v for k, v in counts.items() if v})
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
