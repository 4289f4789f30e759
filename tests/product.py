"""The product as a user installs it: the base virtualenv that ``make test`` builds.

``make run`` (``make install``) installs clearcount with its base dependencies only,
and that install is what users run. The test virtualenv holds every extra (PySpark,
pandas, JupyterLab, pytest's helpers), so a process started from it would hide a module
that serving imports but only an extra brings. Every ``clearcount`` process the suite
starts (serve, load, demo, report, erase, compact, …) therefore runs from
``.venv-base``, which holds exactly ``pip install -e .``; only what an extra is for
(``report --engine spark``, the notebooks' kernel) runs from the test virtualenv.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
BASE_VENV: Final = ROOT / ".venv-base"
# What the extras run with: this process's own interpreter, the test virtualenv's.
WITH_EXTRAS: Final = sys.executable


def _base(name: str) -> str:
    path = BASE_VENV / "bin" / name
    if not path.exists():
        raise RuntimeError(
            f"{path} is missing: `make test` builds {BASE_VENV.name} (the base install "
            "alone) before it runs the suite; `make base-venv` builds it by itself"
        )
    return str(path)


def python() -> str:
    """The base install's interpreter, for scripts a user of the base install runs."""
    return _base("python")


def clearcount() -> list[str]:
    """The ``clearcount`` console script of the base install, as a user runs it."""
    return [_base("clearcount")]


# The extras the test virtualenv holds (pyproject.toml's test extra brings them all).
EXTRAS: Final = frozenset({"spark", "notebooks"})


def with_extra(extra: str) -> list[str]:
    """``clearcount`` from the test virtualenv, for a feature of ``extra``."""
    if extra not in EXTRAS:
        raise ValueError(f"the test virtualenv has no extra {extra!r}")
    return [WITH_EXTRAS, "-m", "service.cli"]
