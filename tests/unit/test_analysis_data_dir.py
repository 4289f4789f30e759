"""Notebooks find the data from CLEARCOUNT_DATA_DIR, else the project's ./data, whatever the cwd."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.analysis.notebooks import data_dir, open_views

ROOT = Path(__file__).resolve().parents[2]


def test_a_kernel_started_in_notebooks_finds_the_projects_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CLEARCOUNT_DATA_DIR", raising=False)
    monkeypatch.chdir(ROOT / "notebooks")  # where JupyterLab starts the kernel
    assert data_dir() == ROOT / "data"


def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLEARCOUNT_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path


def test_missing_data_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="clearcount demo"):
        open_views(tmp_path)
