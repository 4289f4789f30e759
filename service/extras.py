"""Features that need an optional extra say which one when it is missing.

The base install (``make install``, ``pip install clearcount``) serves, loads, exports,
erases and reports with DuckDB. ``report --engine spark`` needs the ``spark`` extra and
the notebooks helpers need the ``notebooks`` extra; without it, their first import says
so and how to install it, instead of a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(Exception):
    """A feature was used without the optional extra that brings its libraries."""


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """``module`` imported, or MissingExtra naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise MissingExtra(
            f"{feature} needs the '{extra}' extra ({exc.name} is not installed): "
            f"pip install 'clearcount[{extra}]'"
        ) from None
