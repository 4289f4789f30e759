"""Every notebook runs headless against demo data, and its own assertions pass."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests import patience
from tests.integration.server import ROOT, copy_demo

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, demo_source: Path) -> Path:
    return copy_demo(demo_source, tmp_path_factory.mktemp("notebooks"))


def test_there_are_four_notebooks() -> None:
    assert [p.stem for p in NOTEBOOKS] == [
        "acquisition_campaigns",
        "consent_privacy_audit",
        "engagement",
        "traffic_overview",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_outputs_are_stripped_in_git(path: Path) -> None:
    for cell in json.loads(path.read_text())["cells"]:
        assert not cell.get("outputs"), f"{path.name} has outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEARCOUNT_DATA_DIR", str(lake))
    book = nbformat.read(path, as_version=4)
    # JupyterLab starts each kernel in the notebook's own folder: run them there too.
    NotebookClient(
        book,
        timeout=patience.seconds(120),
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    images = [
        o for c in book.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    errors = [
        o for c in book.cells for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert not errors
    assert images, "no chart was drawn"
    tables = [
        o for c in book.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})
    ]
    assert tables, "no table was shown"
    assert all("<table" in o["data"]["text/html"] for o in tables)  # DataFrames, not lists
