"""CSV cells that a spreadsheet shows as text, never runs as a formula.

Spreadsheet programs evaluate a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and
tab or carriage return, which some strip first) as a formula: a custom event named
``=HYPERLINK(...)`` or a click target ``+cmd|...`` would run on the analyst's machine.
Such a text cell gets a leading apostrophe, as OWASP's CSV-injection advice says; numbers
are written as numbers. The dashboard's CSV export and the report's tables both write
their text cells through ``spreadsheet_safe``.
"""

from __future__ import annotations

from typing import Final

FORMULA_STARTS: Final = frozenset("=+-@\t\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` as a cell no spreadsheet evaluates."""
    return "'" + text if text[:1] in FORMULA_STARTS else text
