"""Report CSVs and the dashboard's CSV write text a spreadsheet shows, never runs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pipelines.analysis.report import Table, write_tables
from pipelines.analysis.spreadsheet import spreadsheet_safe

CELLS = [
    ('=HYPERLINK("https://evil.test","x")', '\'=HYPERLINK("https://evil.test","x")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(1+9)*cmd|' /C calc'!A0", "'@SUM(1+9)*cmd|' /C calc'!A0"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("signup", "signup"),
    ("/products/chair", "/products/chair"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "cell"), CELLS, ids=[f"cell{i}" for i in range(len(CELLS))])
def test_a_text_cell_that_starts_a_formula_is_quoted(text: str, cell: str) -> None:
    assert spreadsheet_safe(text) == cell


def test_the_reports_csv_quotes_formula_names_and_keeps_numbers(tmp_path: Path) -> None:
    rows = [
        {"name": text, "events": -3 if i == 0 else 7, "visitors": 6}
        for i, (text, _) in enumerate(CELLS)
    ]
    table = Table("custom_events", ["name", "events", "visitors"], rows, [False] * len(rows))
    write_tables([table], tmp_path, k=5)
    with (tmp_path / "custom_events.csv").open(newline="", encoding="utf-8") as f:
        written = list(csv.DictReader(f))
    assert [r["name"] for r in written] == [cell for _, cell in CELLS]
    assert written[0]["events"] == "-3"  # a number is no formula
