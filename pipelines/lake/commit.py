"""Changes to the lake's Delta tables: retried on conflict, and old files deleted only
once no reader can still be reading them.

Every change is one Delta commit, so readers see it whole or not at all, and
collectors commit concurrently: appends never conflict, and a rewrite
(compaction, retention, erasure) that loses a race to another rewrite of the
same files reads the table again and redoes its work.

Files a rewrite replaced stay in storage until ``vacuum``: a query that
started on an older snapshot may still be reading them. ``vacuum`` keeps every
file a version current within the readers' grace (``CLEARCOUNT_READER_GRACE_S``)
names and deletes the other replaced files; after the grace, no replaced
byte is left in the table's folder.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

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
# Operations whose commits remove files: what vacuum may have to delete.
REMOVING = frozenset({"DELETE", "UPDATE", "OPTIMIZE", "MERGE"})


def removes_files(commit: dict[str, Any]) -> bool:
    operation = commit.get("operation", "")
    if operation == "WRITE":
        return bool(commit.get("operationParameters", {}).get("mode") == "Overwrite")
    return operation in REMOVING


@dataclass(frozen=True)
class VacuumPlan:
    keep: list[int]  # versions whose files must stay
    through: int  # files removed by commits up to this version are deleted by the plan


def plan_vacuum(
    table: DeltaTable, grace_s: float, after: int = -1, now: float | None = None
) -> VacuumPlan | None:
    """What a vacuum keeps: the current version, and the version before each commit that
    removed files since the grace began. A query started within the grace holds some
    version from the one current when the grace began on; a file it reads that a later
    commit removed is still named by the version before that commit. None when no
    commit after version ``after`` removed files. The recent history is read, or all of
    it when the grace reaches further back than ``HISTORY_LIMIT`` commits."""
    cutoff_ms = ((time.time() if now is None else now) - grace_s) * 1000
    history = table.history(HISTORY_LIMIT)  # newest first
    if len(history) >= HISTORY_LIMIT and history[-1].get("timestamp", 0) > cutoff_ms:
        history = table.history()  # so busy that the grace reaches further back: all of it
    versions = [c for c in history if c.get("version") is not None]
    began = next((c["version"] for c in versions if c.get("timestamp", 0) <= cutoff_ms), -1)
    removing = [c["version"] for c in versions if c["version"] > after and removes_files(c)]
    if not removing:
        return None
    keep = {table.version()} | {r - 1 for r in removing if r > began}
    return VacuumPlan(sorted(v for v in keep if v >= 0), began)


def run_vacuum(table: DeltaTable, plan: VacuumPlan) -> list[str]:
    """Delete the replaced files the plan does not keep; the paths deleted.

    Only files the log says were removed are touched ("lite" mode): a file another
    collector has written but not yet committed is never taken for garbage.
    """
    deleted: list[str] = table.vacuum(
        retention_hours=0, dry_run=False, enforce_retention_duration=False, keep_versions=plan.keep
    )
    if deleted:
        log.info("replaced files deleted", extra={"files": len(deleted)})
    return deleted


def vacuum_all(lake: Lake, grace_s: float | None = None) -> int:
    """``Lake.vacuum`` of every table of the lake; how many files were deleted."""
    from pipelines.lake.tables import TABLE_SCHEMAS

    return sum(len(lake.vacuum(name, grace_s)) for name in TABLE_SCHEMAS)
