"""Export and erasure answer alike whoever is asked about: a failure inside either is one
JSON error, with nothing in its status or body that depends on the visitor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.lake.tables import ensure_views
from service.app import create_app
from service.http import rights
from service.settings import Settings
from service.sites import parse_sites

SITES = '[sites.shop]\norigins = ["https://shop.example"]\n'
VISITOR = {"site": "shop", "visitor_id": "v-0123456789"}


def fail(*args: Any, **kwargs: Any) -> Any:
    raise OSError("storage unreachable: v-0123456789")


@pytest.mark.parametrize(
    ("path", "broken"),
    [("/api/export", "export_visitor"), ("/api/forget", "request_erasure")],
    ids=["export", "forget"],
)
def test_a_failure_inside_a_rights_request_is_one_json_error(
    path: str, broken: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rights, broken, fail)
    app = create_app(Settings(data_dir=tmp_path), sites=parse_sites(SITES), housekeeping=False)
    answer = app.test_client().post(path, json=VISITOR)
    assert answer.status_code == 503
    assert answer.get_json() == {
        "error": "rights_unavailable",
        "message": "the request could not be carried out now; retry",
    }
    assert "Retry-After" in answer.headers
    assert b"v-0123456789" not in answer.data


def test_export_and_forget_answer_known_and_unknown_visitors_alike(tmp_path: Path) -> None:
    ensure_views(tmp_path)  # as `clearcount serve` does before it starts the workers
    app = create_app(Settings(data_dir=tmp_path), sites=parse_sites(SITES), housekeeping=False)
    client = app.test_client()
    unknown = client.post("/api/export", json={"site": "shop", "visitor_id": "never-seen"})
    assert (unknown.status_code, unknown.get_json()) == (200, [])
    for visitor in ("never-seen", VISITOR["visitor_id"]):
        forget = client.post("/api/forget", json={"site": "shop", "visitor_id": visitor})
        assert (forget.status_code, forget.get_json()) == (202, {"status": "accepted"})
