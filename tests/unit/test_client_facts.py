"""Per-request facts: computed once a request, whatever the batch size."""

from __future__ import annotations

import os
import re

import pytest

from service.ingest import client_facts
from tests.conftest import client


@pytest.mark.parametrize(("events", "draws"), [(1, 1), (2, 2), (3, 2), (20, 5), (100, 7)])
def test_event_ids_are_unique_and_drawn_a_few_times_a_request(
    monkeypatch: pytest.MonkeyPatch, events: int, draws: int
) -> None:
    calls = []
    real_urandom = os.urandom

    def urandom(n: int) -> bytes:
        calls.append(n)
        return real_urandom(n)

    monkeypatch.setattr(client_facts.os, "urandom", urandom)
    who = client()
    ids = [client_facts.event_id(who) for _ in range(events)]
    assert len(set(ids)) == events
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(calls) == draws
    assert max(calls) <= 16 << client_facts.MAX_EVENT_ID_DRAW_SHIFT


def test_event_ids_differ_between_requests() -> None:
    first = {client_facts.event_id(client()) for _ in range(50)}
    assert len(first) == 50
