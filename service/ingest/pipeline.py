"""The event flow, as a table of contents: each stage takes an Event and returns
the next Event or a typed Dropped, and the first Dropped ends the fold."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from service.ingest.authorize import authorize
from service.ingest.consent import resolve_consent
from service.ingest.enrich import enrich
from service.ingest.event import Client, Context, Dropped, DropReason, Event
from service.ingest.minimize import minimize
from service.ingest.spool import SpoolWriter
from service.ingest.validate import validate_event

Stage = Callable[[Event, Context], Event | Dropped]

STAGES: Final[tuple[Stage, ...]] = (validate_event, authorize, resolve_consent, enrich, minimize)

# Drops the client is told about; the others are accepted and only counted.
REJECTIONS: Final = frozenset(
    {DropReason.INVALID, DropReason.UNKNOWN_SITE, DropReason.ORIGIN_NOT_ALLOWED}
)
FORBIDDEN: Final = frozenset({DropReason.UNKNOWN_SITE, DropReason.ORIGIN_NOT_ALLOWED})


def run(raw: Any, index: int, client: Client, ctx: Context) -> Event | Dropped:
    current: Event | Dropped = Event(index=index, client=client, raw=raw)
    for stage in STAGES:
        assert isinstance(current, Event)
        current = stage(current, ctx)
        if isinstance(current, Dropped):
            break
    return current


BACKFILL_WINDOW = dt.timedelta(days=400)


def backfilled(raw: Any, client: Client) -> Client:
    """In backfill mode an event is dated by its ``ts``, if that lies in the last 400 days."""
    return dated(raw.get("ts") if isinstance(raw, dict) else None, client)


def dated(ts: Any, client: Client) -> Client:
    """``client`` received at ``ts`` (ms since the epoch), if that is an integer within the
    last 400 days; as it was otherwise. Events' ``ts`` and the pixel's and /r's share it."""
    if not isinstance(ts, int) or isinstance(ts, bool):
        return client
    try:
        at = dt.datetime.fromtimestamp(ts / 1000, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return client
    if client.received_at - BACKFILL_WINDOW <= at <= client.received_at:
        return dataclasses.replace(client, received_at=at)
    return client


@dataclass
class BatchResult:
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    stored: Counter[str] = field(default_factory=Counter)
    sites: Counter[str] = field(default_factory=Counter)
    forbidden_only: bool = False
    origin_refused_for: set[str] = field(default_factory=set)  # sites the Origin may not post to

    @property
    def status(self) -> int:
        if self.accepted:
            return 202
        return 403 if self.forbidden_only else 400

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"accepted": self.accepted, "rejected": self.rejected}
        if not self.accepted:
            body["error"] = "forbidden" if self.forbidden_only else "no_valid_events"
        return body


def process(raws: Sequence[Any], client: Client, ctx: Context, spool: SpoolWriter) -> BatchResult:
    """Run every event through the stages, then make the survivors durable in one append.

    Raises SpoolUnavailable when the append fails: nothing of the batch is acknowledged.
    """
    result = BatchResult()
    lines: list[bytes] = []
    rejected_reasons = set()
    backfill = ctx.settings.backfill
    for index, raw in enumerate(raws):
        outcome = run(raw, index, backfilled(raw, client) if backfill else client, ctx)
        if isinstance(outcome, Event):
            assert outcome.row is not None
            lines.append(orjson.dumps(outcome.row) + b"\n")
            result.accepted += 1
            result.stored[outcome.table] += 1
            result.sites[outcome.row["site"]] += 1
            if outcome.table == "quarantine":
                result.dropped[outcome.row["drop_reason"]] += 1
            continue
        result.dropped[outcome.reason.value] += 1
        if outcome.reason is DropReason.ORIGIN_NOT_ALLOWED:
            result.origin_refused_for.add(raw["site"])  # validated: a configured site's id
        if outcome.reason in REJECTIONS:
            rejected_reasons.add(outcome.reason)
            result.rejected.append({"index": index, "errors": outcome.errors or {}})
        else:
            # Denied and erased events are accepted: the answer reveals nothing about them.
            result.accepted += 1
            if outcome.count_record is not None:
                lines.append(orjson.dumps(outcome.count_record) + b"\n")
                result.stored["denied_counts"] += 1
                result.sites[outcome.count_record["site"]] += 1
    result.forbidden_only = bool(rejected_reasons) and rejected_reasons <= FORBIDDEN
    if lines:
        spool.append(lines)
    return result
