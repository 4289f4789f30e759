"""Logout revokes a session on the server, for every process that shares the keys."""

from __future__ import annotations

from pathlib import Path

from service.dashboard.revocations import PREFIX, REFRESH_S, Revocations
from service.storage.objects import LocalObjects

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_revoked_session_is_refused_here_at_once_and_elsewhere_after_a_refresh(
    tmp_path: Path,
) -> None:
    here_clock, there_clock = Clock(), Clock()
    here = Revocations(LocalObjects(tmp_path), REFRESH_S, here_clock)
    there = Revocations(
        LocalObjects(tmp_path), REFRESH_S, there_clock
    )  # another worker or collector
    assert not there.is_revoked("A" * 16, NOW)  # read once: nothing revoked yet
    here.revoke("A" * 16, int(NOW) + 3600)
    assert here.is_revoked("A" * 16, NOW)
    there_clock.t += REFRESH_S
    assert there.is_revoked("A" * 16, NOW)
    assert not there.is_revoked("B" * 16, NOW)


def test_with_no_refresh_interval_every_check_reads_the_list(tmp_path: Path) -> None:
    clock = Clock()  # never advances
    reader = Revocations(LocalObjects(tmp_path), 0.0, clock)
    assert not reader.is_revoked("A" * 16, NOW)
    Revocations(LocalObjects(tmp_path)).revoke("A" * 16, int(NOW) + 3600)
    assert reader.is_revoked("A" * 16, NOW)


def test_an_entry_past_its_sessions_expiry_is_deleted(tmp_path: Path) -> None:
    objects = LocalObjects(tmp_path)
    Revocations(objects).revoke("A" * 16, int(NOW) + 60)
    Revocations(objects).revoke("B" * 16, int(NOW) + 7200)
    later = Revocations(objects)
    assert later.is_revoked("B" * 16, NOW + 3600)
    assert not later.is_revoked("A" * 16, NOW + 3600)  # its cookie has expired anyway
    assert objects.list(PREFIX) == [f"{PREFIX}/{int(NOW) + 7200}.{'B' * 16}"]
