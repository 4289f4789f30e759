"""The base install, as `make run` makes it, is the product the suite runs: it holds no
extra, imports every module, and features that need an extra say which one."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests import patience, product
from tests.integration.server import ROOT, run_cli

PACKAGES = ("service", "pipelines")
# What only the extras bring: none of it may be in the base install.
EXTRAS_ONLY = ("pandas", "pyspark", "sqlglot", "jupyterlab", "ipykernel", "pytest")

IMPORT_ALL = """
import importlib, json, pkgutil, sys
failed = {}
names = []
for package in sys.argv[1:]:
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        names.append(info.name)
for name in names:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"imported": len(names) - len(failed), "failed": failed}))
"""


def test_the_base_install_holds_no_extra() -> None:
    listed = subprocess.run(
        [product.python(), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=patience.COMMAND_S,
        check=True,
    ).stdout
    installed = {p["name"].lower() for p in json.loads(listed)}
    assert "clearcount" in installed
    assert "pytz" in installed  # DuckDB returns TIMESTAMPTZ values through it
    assert sorted(installed & set(EXTRAS_ONLY)) == []


def test_every_module_imports_in_the_base_install(tmp_path: Path) -> None:
    # service.wsgi builds the app as it is imported: give it a sites file and a data dir.
    (tmp_path / "sites.toml").write_text('[sites.shop]\norigins = ["https://shop.example"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARCOUNT_")}
    env |= {"CLEARCOUNT_SITES": str(tmp_path / "sites.toml"), "CLEARCOUNT_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [product.python(), "-c", IMPORT_ALL, *PACKAGES],
        cwd=tmp_path,  # the installed package, not the checkout beside the interpreter
        env=env,
        capture_output=True,
        text=True,
        timeout=patience.COMMAND_S,
        check=True,
    )
    answer = json.loads(result.stdout)
    assert answer["failed"] == {}
    # Every file but the packages' own __init__.py, which the walk starts from.
    modules = sum(1 for p in PACKAGES for _ in (ROOT / p).rglob("*.py")) - len(PACKAGES)
    assert answer["imported"] == modules


def test_the_spark_engine_names_its_extra_when_it_is_missing(tmp_path: Path) -> None:
    sites = tmp_path / "sites.toml"
    sites.write_text('[sites.shop]\norigins = ["https://shop.example"]\n')
    result = run_cli(
        "report",
        "--site",
        "shop",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-02",
        "--out",
        str(tmp_path / "out"),
        "--engine",
        "spark",
        data_dir=tmp_path / "data",
        sites=sites,
    )
    assert result.returncode == 2
    assert "needs the 'spark' extra" in result.stderr
    assert "pip install 'clearcount[spark]'" in result.stderr
    assert "Traceback" not in result.stderr
