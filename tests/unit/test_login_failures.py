"""Wrong dashboard tokens are counted per network, in storage every process shares."""

from __future__ import annotations

from pathlib import Path

from service.storage.objects import LocalObjects
from service.storage.shared_counts import LOGIN_FAILURES as PREFIX
from service.storage.shared_counts import SharedCounts

NOW = 1_800_000_000.0


def test_failures_count_per_network_across_processes_and_expire(tmp_path: Path) -> None:
    one = SharedCounts(LocalObjects(tmp_path), PREFIX, 3)
    other = SharedCounts(LocalObjects(tmp_path), PREFIX, 3)
    for n in range(3):
        assert not one.limited("net-a", NOW + n)
        (one if n % 2 else other).record("net-a", NOW + n)  # two workers, one count
    assert one.limited("net-a", NOW + 3)
    assert other.limited("net-a", NOW + 3)
    assert not one.limited("net-b", NOW + 3)  # another network is never held back
    assert not one.limited("net-a", NOW + 61)  # a minute later the first has gone
    assert not one.limited("net-a", NOW + 120)
    assert LocalObjects(tmp_path).list(f"{PREFIX}/net-a") == []  # and so have the rest


def test_a_limit_of_zero_turns_it_off(tmp_path: Path) -> None:
    failures = SharedCounts(LocalObjects(tmp_path), PREFIX, 0)
    failures.record("net-a", NOW)
    assert not failures.limited("net-a", NOW)
