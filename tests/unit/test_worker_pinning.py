"""Workers pinned to CPUs: which CPU a new worker takes, and how the setting is read."""

from __future__ import annotations

import pytest

from service.cli import build_parser
from service.gunicorn_conf import cpu_for_new_worker
from service.settings import Settings, from_args


@pytest.mark.parametrize(
    ("cpus", "held", "expected"),
    [
        # first worker on a 2-CPU machine
        ({0, 1}, [], 0),
        # the second takes the free CPU
        ({0, 1}, [0], 1),
        # a third shares with the lowest
        ({0, 1}, [0, 1], 0),
        # a replacement takes the CPU its dead predecessor left
        ({0, 1, 2, 3}, [0, 2, 3], 1),
        # only the CPUs this process may use count
        ({2, 5}, [2], 5),
        # one CPU: nothing to spread, the worker floats
        ({0}, [], None),
        # workers started while pinning was off hold no CPU
        ({0, 1}, [None, None], 0),
    ],
)
def test_cpu_for_new_worker(cpus: set[int], held: list[int | None], expected: int | None) -> None:
    assert cpu_for_new_worker(cpus, held) == expected


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        ([], {}, True),
        (["--no-pin-workers"], {}, False),
        ([], {"CLEARCOUNT_PIN_WORKERS": "0"}, False),
        ([], {"CLEARCOUNT_PIN_WORKERS": "1"}, True),
        (["--no-pin-workers"], {"CLEARCOUNT_PIN_WORKERS": "1"}, False),
    ],
)
def test_pin_workers_setting(
    argv: list[str], environ: dict[str, str], expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLEARCOUNT_PIN_WORKERS", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = from_args(build_parser().parse_args(["serve", *argv]))
    assert settings.pin_workers is expected
    assert Settings().pin_workers is True


def test_other_switches_still_turn_on() -> None:
    assert from_args(build_parser().parse_args(["serve", "--demo"])).demo is True
