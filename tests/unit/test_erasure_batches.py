"""A flood of erasure requests costs one search and one commit a table and site a round,
whatever their number, and each still completes with its own receipt."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipelines.lake.tables import Lake
from pipelines.rights import erasure
from pipelines.rights.erasure import pending_requests, process_pending, request_erasure
from service.privacy.keys import KeyStore
from tests.unit.test_compact import all_rows, key_of, small_lake

VISITORS = range(10)  # every visitor small_lake writes, on two days, in six loads


def test_all_pending_erasures_are_applied_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLEARCOUNT_READER_GRACE_S", "0")
    small_lake(tmp_path)
    lake, keys = Lake.of(tmp_path), KeyStore(tmp_path / "keys")
    before = lake.table("events").version()
    erased = [v for v in VISITORS if v % 2 == 0]  # five visitors, and one twice
    now = dt.datetime.now(dt.UTC)
    for v in [*erased, erased[0]]:
        request_erasure(keys, "shop", "visitor_key", key_of(v, "shop"), block_days=1, now=now)

    scans: list[int] = []
    commits: list[str] = []
    days_holding, rewrite = erasure._days_holding, erasure._rewrite
    monkeypatch.setattr(erasure, "_days_holding", lambda *a: scans.append(1) or days_holding(*a))
    monkeypatch.setattr(erasure, "_rewrite", lambda *a: commits.append(a[1]) or rewrite(*a))
    assert process_pending(tmp_path, lake, keys) == []  # rewritten; completes a round later
    assert len(scans) == len(erasure.ERASABLE)  # one search a table, not one a request
    # One commit for all six in each table that holds them: the events and their rollup.
    assert sorted(commits) == ["events", "sessions"]
    assert lake.table("events").version() == before + 1

    receipts = process_pending(tmp_path, lake, keys)
    assert len(receipts) == 6
    assert pending_requests(keys.objects) == []
    removed = sorted(r["rows_removed"].get("events", 0) for r in receipts)
    assert removed == [12] * 6  # each visitor's 2 days x 6 loads, the twice-asked one too
    left = {row[0].rsplit("-", 1)[-1] for row in all_rows(tmp_path)}
    assert left == {str(v) for v in VISITORS if v not in erased}


class Clock:
    """erasure's ``time``: a clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_the_grace_is_measured_to_the_search_not_to_the_end_of_the_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round's rewrites take time; a search that came before the grace was over cannot
    complete an erasure, however long the round went on after it."""
    monkeypatch.setenv("CLEARCOUNT_READER_GRACE_S", "30")
    small_lake(tmp_path)
    lake, keys = Lake.of(tmp_path), KeyStore(tmp_path / "keys")
    accepted = dt.datetime.now(dt.UTC).replace(microsecond=0)
    request_erasure(keys, "shop", "visitor_key", 12345, block_days=1, now=accepted)
    clock = Clock(accepted.timestamp() + 29)  # one second of grace left at the search
    monkeypatch.setattr(erasure, "time", clock)
    search = erasure.process_requests

    def long_round(*args: object) -> object:
        found = search(*args)  # type: ignore[arg-type]
        clock.now += 5  # the batch's rewrites outlast the grace
        return found

    monkeypatch.setattr(erasure, "process_requests", long_round)
    assert process_pending(tmp_path, lake, keys) == []
    assert len(pending_requests(keys.objects)) == 1
    clock.now = accepted.timestamp() + 31  # a search after the grace completes it
    assert len(process_pending(tmp_path, lake, keys)) == 1
