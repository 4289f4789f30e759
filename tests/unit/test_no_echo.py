"""An answer never echoes a key or value the client sent, a 202's rejected list included."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from service.app import create_app
from service.settings import Settings
from service.sites import parse_sites

SITES = '[sites.shop]\norigins = ["https://shop.example"]\n'
UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
VALID = {"site": "shop", "url": "https://shop.example/"}
HOSTILE_KEYS = ["<svg onload=alert(1)>", "jane.doe@example.org", "+1 415 555 0132"]
# Each makes the props invalid in another way, keyed by a hostile key.
BAD_VALUES = [{"nested": 1}, [1, 2], "x" * 600]


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=["markup", "email", "phone"])
@pytest.mark.parametrize("value", BAD_VALUES, ids=["object", "list", "long"])
@pytest.mark.parametrize("batch", [False, True], ids=["alone", "beside-a-valid-event"])
def test_a_bad_props_value_is_refused_without_naming_its_key(
    key: str, value: object, batch: bool, tmp_path: Path
) -> None:
    app = create_app(Settings(data_dir=tmp_path), sites=parse_sites(SITES), housekeeping=False)
    bad = {**VALID, "props": {"fine": 1, key: value}}
    body = orjson.dumps([VALID, bad] if batch else bad)
    answer = app.test_client().post(
        "/api/event", data=body, headers={**UA, "Content-Type": "application/json"}
    )
    assert answer.status_code == (202 if batch else 400)
    for text in (key, key.encode("unicode_escape").decode()):
        assert text not in answer.get_data(as_text=True)
    assert b"svg" not in answer.data
    assert b"example.org" not in answer.data
