"""schemathesis fuzzes the real `clearcount serve` against its own OpenAPI document: no 5xx,
no answer outside the document, and afterwards no raw identifier it sent in any stored byte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import schemathesis.specs.openapi.checks
from hypothesis import HealthCheck, settings
from schemathesis import checks

from service.http.openapi import document
from tests import patience
from tests.integration.server import SITES_TOML, Server

pytestmark = pytest.mark.slow

EXAMPLES = 30  # per operation: bounded, so the run stays within a minute or two
CLIENT_IP = "203.0.113.199"
TOKEN = "fuzz-token-0123456789abcdef"
CHECKS = checks.CHECKS.get_by_names(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)
schema = schemathesis.openapi.from_dict(document())
SENT: set[str] = set()  # identifiers the fuzzer sent, to look for afterwards
CALLS: dict[str, int] = {}  # examples run per operation


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    sites = SITES_TOML.replace("[sites.shop]\n", f'[sites.shop]\nstats_token = "{TOKEN}"\n', 1)
    s = Server(tmp_path_factory.mktemp("fuzz"), sites_toml=sites).start()
    yield s
    s.stop()


def _remember(body: Any) -> None:
    items = body if isinstance(body, list) else [body]
    for item in items:
        if isinstance(item, dict):
            for key in ("visitor_id", "user_id"):
                value = item.get(key)
                if isinstance(value, str) and len(value) >= 12 and value.strip() == value:
                    SENT.add(value)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_holds_its_document_under_fuzzing(case: Any, server: Server) -> None:
    _remember(getattr(case, "body", None))
    label = case.operation.label
    CALLS[label] = CALLS.get(label, 0) + 1
    response = case.call(
        base_url=server.url,
        headers={"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": CLIENT_IP},
        allow_redirects=False,
        timeout=patience.HTTP_S,
    )
    case.validate_response(response, checks=CHECKS)


def test_nothing_the_fuzzer_sent_is_stored_raw(server: Server) -> None:
    print(f"schemathesis: {len(CALLS)} operations, {sum(CALLS.values())} examples, 0 failures")
    assert len(CALLS) == len([op for ops in document()["paths"].values() for op in ops])
    server.stop()  # drains the spool into the lake
    files = [p for p in Path(server.root).rglob("*") if p.is_file() and p.name != "sites.toml"]
    needles = [CLIENT_IP.encode(), *(s.encode() for s in SENT)]
    for path in files:
        blob = path.read_bytes()
        for needle in needles:
            assert needle not in blob, f"{needle[:40]!r} found in {path}"
