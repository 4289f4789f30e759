"""schemathesis fuzzes the real `clearcount serve` against its own OpenAPI document: no 5xx,
no answer outside the document, and afterwards no raw identifier it sent in any stored byte
(that was not already stored before it began)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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


def stored_bytes(root: Path) -> dict[Path, bytes]:
    """Every file the server keeps under ``root``, but the sites file the test wrote."""
    return {
        p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != "sites.toml"
    }


@dataclass
class Fuzzed:
    server: Server
    before: dict[Path, bytes]  # what was stored before the first request


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    sites = SITES_TOML.replace("[sites.shop]\n", f'[sites.shop]\nstats_token = "{TOKEN}"\n', 1)
    s = Server(tmp_path_factory.mktemp("fuzz"), sites_toml=sites).start()
    yield Fuzzed(s, stored_bytes(s.root))
    s.stop()


def _remember(body: Any) -> None:
    items = body if isinstance(body, list) else [body]
    for item in items:
        if isinstance(item, dict):
            for key in ("visitor_id", "user_id"):
                value = item.get(key)
                if isinstance(value, str) and len(value) >= 12 and value.strip() == value:
                    SENT.add(value)


# One value: the parametrize gives each operation's test its own node id (schemathesis alone
# names them all after the function), which xdist needs to schedule them.
@pytest.mark.parametrize("client_ip", [CLIENT_IP])
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_holds_its_document_under_fuzzing(
    case: Any, fuzzed: Fuzzed, client_ip: str
) -> None:
    _remember(getattr(case, "body", None))
    label = case.operation.label
    CALLS[label] = CALLS.get(label, 0) + 1
    response = case.call(
        base_url=fuzzed.server.url,
        headers={"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": client_ip},
        allow_redirects=False,
        timeout=patience.HTTP_S,
    )
    case.validate_response(response, checks=CHECKS)


def test_nothing_the_fuzzer_sent_is_stored_raw(fuzzed: Fuzzed) -> None:
    print(f"schemathesis: {len(CALLS)} operations, {sum(CALLS.values())} examples, 0 failures")
    assert len(CALLS) == len([op for ops in document()["paths"].values() for op in ops])
    fuzzed.server.stop()  # drains the spool into the lake
    # Hypothesis also draws strings from the code under test (column and metric names, say),
    # which the views and the empty tables held before the first request: finding those
    # afterwards says nothing about what the API stored.
    before = list(fuzzed.before.values())
    needles = [CLIENT_IP.encode()]
    needles += [n for n in (s.encode() for s in sorted(SENT)) if not any(n in b for b in before)]
    for path, blob in stored_bytes(fuzzed.server.root).items():
        for needle in needles:
            assert needle not in blob, f"{needle[:40]!r} found in {path}"
