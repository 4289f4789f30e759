"""Logins and erasure requests are counted per network, in storage every process shares."""

from __future__ import annotations

from pathlib import Path

from service.storage.objects import LocalObjects
from service.storage.shared_counts import LOGIN_ATTEMPTS as PREFIX
from service.storage.shared_counts import UNLIMITED, SharedCounts

NOW = 1_800_000_000.0


def test_uses_count_per_network_across_processes_and_leave_the_window(tmp_path: Path) -> None:
    one = SharedCounts(LocalObjects(tmp_path), PREFIX, 3)
    other = SharedCounts(LocalObjects(tmp_path), PREFIX, 3)  # another worker or collector
    taken = [(one if n % 2 else other).take("net-a", NOW + n) for n in range(3)]
    assert None not in taken
    assert one.take("net-a", NOW + 3) is None  # the fourth, on either worker, is refused
    assert other.take("net-a", NOW + 3) is None
    assert len(LocalObjects(tmp_path).list(PREFIX)) == 3  # refused uses are not kept
    assert one.take("net-b", NOW + 3) is not None  # another network is never held back
    assert one.take("net-a", NOW + 61) is not None  # a minute on, the first has left
    assert one.take("net-a", NOW + 200) is not None
    assert len(LocalObjects(tmp_path).list(PREFIX)) == 1  # every stale one is deleted


def test_a_use_given_back_does_not_count(tmp_path: Path) -> None:
    counts = SharedCounts(LocalObjects(tmp_path), PREFIX, 1)
    first = counts.take("net-a", NOW)
    assert first
    counts.give_back(first)  # a login with the right token
    assert counts.take("net-a", NOW + 1) is not None


def test_a_limit_of_zero_counts_and_records_nothing(tmp_path: Path) -> None:
    counts = SharedCounts(LocalObjects(tmp_path), PREFIX, 0)
    assert [counts.take("net-a", NOW) for _ in range(5)] == [UNLIMITED] * 5
    assert LocalObjects(tmp_path).list(PREFIX) == []
