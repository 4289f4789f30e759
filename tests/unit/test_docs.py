"""A setting, endpoint, command or sites key that the README does not name does not exist."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipelines.analysis.metrics import EMAIL_METRICS, METRICS
from service.app import create_app
from service.cli import build_parser
from service.demo_sites import demo_sites_toml
from service.settings import Settings, documented_fields
from service.sites import Site, parse_sites

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("flag", "env", "help_text"), documented_fields())
def test_every_setting_is_in_the_readme(flag: str, env: str, help_text: str) -> None:
    assert f"`{flag}`" in README
    assert f"`{env}`" in README


@pytest.mark.parametrize("key", [f.name for f in dataclasses.fields(Site) if f.name != "id"])
def test_every_sites_key_is_in_the_readme(key: str) -> None:
    assert f"`{key}`" in README


def test_every_command_is_in_the_readme() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name in subparsers.choices:  # type: ignore[union-attr]
        assert f"`clearcount {name}`" in README, name


def test_every_route_is_in_the_readme(tmp_path: Path) -> None:
    app = create_app(
        Settings(data_dir=tmp_path),
        sites=parse_sites(demo_sites_toml("127.0.0.1:8000")),
        housekeeping=False,
    )
    routes = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
    assert len(routes) >= 6
    for rule in routes:
        methods = (rule.methods or set()) - {"HEAD", "OPTIONS"}
        for method in methods:
            assert f"`{method} {rule.rule}`" in README, f"{method} {rule.rule}"


@pytest.mark.parametrize("name", [*METRICS, *EMAIL_METRICS])
def test_every_metric_is_on_the_readme_metrics_page_as_defined(name: str) -> None:
    metric = {**METRICS, **EMAIL_METRICS}[name]
    assert f"| `{name}` | {metric.unit} | {metric.definition} |" in README
