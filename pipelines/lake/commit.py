"""Changes to the lake's Delta tables: retried on conflict, and old files deleted only
once no reader can still be reading them.

Every change is one Delta commit, so readers see it whole or not at all, and
collectors commit concurrently: appends never conflict, and a rewrite
(compaction, retention, erasure) that loses a race to another rewrite of the
same files reads the table again and redoes its work.

Files a rewrite replaced stay in storage until ``vacuum``: a query that
started on an older snapshot may still be reading them. ``vacuum`` keeps every
file of every version that was current within the readers' grace
(``CLEARCOUNT_READER_GRACE_S``) and deletes the rest; after it, no replaced
byte is left in the table's folder.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

if TYPE_CHECKING:
    from pipelines.lake.tables import Lake

log = logging.getLogger("clearcount.commit")

T = TypeVar("T")
ATTEMPTS = 20


def reader_grace() -> float:
    """Seconds replaced files stay for readers that may still be reading them (the setting
    ``reader_grace_s``, read here because every lake writer needs it)."""
    from service.settings import Settings

    return Settings.from_env().reader_grace_s


def retrying(change: Callable[[], T], what: str) -> T:
    """Run ``change`` (which reads the table's latest version itself) until it commits:
    a conflict means another collector committed first, and the change is redone on
    what that commit left."""
    for attempt in range(ATTEMPTS):
        try:
            return change()
        except CommitFailedError:
            if attempt == ATTEMPTS - 1:
                raise
            log.info("commit conflict; redoing", extra={"change": what, "attempt": attempt + 1})
            time.sleep(min(0.05 * 2**attempt, 2.0))
    raise AssertionError("unreachable")


def quote(value: str) -> str:
    """A SQL string literal for a Delta predicate (values are site ids and ISO dates)."""
    return "'" + value.replace("'", "''") + "'"


def partition_predicate(site: str, day: dt.date | None = None) -> str:
    predicate = f"site = {quote(site)}"
    if day is not None:
        predicate += f" AND date = '{day.isoformat()}'"
    return predicate


HISTORY_LIMIT = 500


def versions_in_grace(
    table: DeltaTable, grace_s: float, now: float | None = None
) -> list[int] | None:
    """Every version a query may still be reading: the current one, each committed within
    the grace, and the one before the oldest of those (current when the grace began).
    None when the last ``HISTORY_LIMIT`` commits all fall within the grace."""
    cutoff_ms = ((time.time() if now is None else now) - grace_s) * 1000
    kept = [table.version()]
    history = table.history(HISTORY_LIMIT)  # newest first
    for commit in history:
        version = commit.get("version")
        if version is None:
            continue
        kept.append(version)
        if commit.get("timestamp", 0) <= cutoff_ms:
            return sorted(set(kept))  # the version current when the grace began
    return None if len(history) >= HISTORY_LIMIT else sorted(set(kept))


def vacuum(table: DeltaTable, grace_s: float | None = None) -> list[str]:
    """Delete files no version within the readers' grace needs; the paths deleted.

    Only files the log says were removed are touched ("lite" mode): a file another
    collector has written but not yet committed is never taken for garbage.
    """
    grace = reader_grace() if grace_s is None else grace_s
    keep = versions_in_grace(table, grace)
    if keep is None:
        return []  # so busy that every recent version is within the grace: later
    deleted: list[str] = table.vacuum(
        retention_hours=0, dry_run=False, enforce_retention_duration=False, keep_versions=keep
    )
    if deleted:
        log.info("replaced files deleted", extra={"files": len(deleted)})
    return deleted


def vacuum_all(lake: Lake, grace_s: float | None = None) -> int:
    """``vacuum`` on every table of the lake; how many files were deleted."""
    from pipelines.lake.tables import TABLE_SCHEMAS

    return sum(len(vacuum(lake.table(name), grace_s)) for name in TABLE_SCHEMAS)
