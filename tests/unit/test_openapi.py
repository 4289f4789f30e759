"""The OpenAPI document describes exactly the app's routes, and is a valid OpenAPI 3.1 document."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from service.app import create_app
from service.demo_sites import demo_sites_toml
from service.settings import Settings
from service.sites import parse_sites


def app(tmp_path: Path, *, demo: bool) -> Flask:
    return create_app(
        Settings(data_dir=tmp_path, demo=demo),
        sites=parse_sites(demo_sites_toml("127.0.0.1:8000")),
        housekeeping=False,
    )


def routes(flask_app: Flask) -> set[tuple[str, str]]:
    out = set()
    for rule in flask_app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            out.add((method.lower(), path))
    return out


@pytest.mark.parametrize("demo", [False, True])
def test_the_document_describes_every_route_and_only_those(tmp_path: Path, demo: bool) -> None:
    flask_app = app(tmp_path, demo=demo)
    doc = flask_app.test_client().get("/api/openapi.json").json
    assert doc is not None
    assert doc["openapi"] == "3.1.0"
    described = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert described == routes(flask_app)


def test_the_document_is_valid_openapi_3_1(tmp_path: Path) -> None:
    from openapi_spec_validator import validate

    validate(app(tmp_path, demo=True).test_client().get("/api/openapi.json").json)


def test_the_event_schema_follows_the_validation_rules(tmp_path: Path) -> None:
    from service.ingest.rules import EVENT_RULES

    doc = app(tmp_path, demo=False).test_client().get("/api/openapi.json").json
    assert doc is not None
    event = doc["components"]["schemas"]["Event"]
    assert set(event["properties"]) == set(EVENT_RULES)
    assert event["required"] == ["site", "url"]
    assert event["additionalProperties"] is False
