"""Bad input is rejected per event with a reason; the body-level failures are 4xx."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from service.ingest.event import Fields
from service.ingest.parse import MAX_BATCH, ParseError, Unrepresentable, parse
from service.ingest.validate import load_fields

OK = {"site": "shop", "url": "https://shop.example/"}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b"{", "application/json", 400, "invalid_json"),
        (b"\xff\xfe{}", "text/plain", 400, "invalid_utf8"),
        (b"", "application/json", 400, "empty_body"),
        (b"[]", "application/json", 400, "empty_batch"),
        (b"42", "application/json", 400, "invalid_json"),
        (orjson.dumps([OK] * (MAX_BATCH + 1)), "application/json", 400, "batch_too_large"),
        (b"site=shop", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_parse_rejects(body: bytes, content_type: str, status: int, error: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(body, content_type)
    assert (caught.value.status, caught.value.error) == (status, error)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain;charset=UTF-8", None])
def test_parse_accepts_json_and_beacon_text(content_type: str | None) -> None:
    assert parse(orjson.dumps(OK), content_type) == [OK]
    assert parse(orjson.dumps([OK, OK]), content_type) == [OK, OK]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"site": None}, "site"),
        ({"url": None}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "/relative"}, "url"),
        ({"url": "https://" + "a" * 2100}, "url"),
        ({"type": "purchase"}, "type"),
        ({"consent": "maybe"}, "consent"),
        ({"depth": 150}, "depth"),
        ({"depth": -1}, "depth"),
        ({"depth": "50"}, "depth"),
        ({"engaged_ms": -5}, "engaged_ms"),
        ({"ts": "yesterday"}, "ts"),
        ({"props": {"nested": {"a": 1}}}, "props"),
        ({"props": {f"k{i}": i for i in range(21)}}, "props"),
        ({"props": {"x": "y" * 501}}, "props"),
        ({"target": {"tag": "a", "onclick": "x"}}, "target"),
        ({"referrer": "javascript:alert(1)"}, "referrer"),
        ({"type": "custom"}, "name"),
        ({"unknown_field": 1}, "_unknown"),  # named by position, never echoed
        ({"visitor_id": ""}, "visitor_id"),
    ],
)
def test_validate_rejects(patch: dict[str, Any], field: str) -> None:
    raw = {**OK, **patch}
    raw = {k: v for k, v in raw.items() if v is not None}
    result = load_fields(raw)
    assert isinstance(result, dict)
    assert field in result, result


def test_validate_accepts_a_full_event() -> None:
    result = load_fields(
        {
            **OK,
            "type": "click",
            "referrer": "https://www.google.com/",
            "ts": 1_795_000_000_000,
            "consent": "granted",
            "visitor_id": "abc",
            "user_id": "u1",
            "props": {"plan": "pro", "n": 2, "ok": True, "none": None, "r": 0.5},
            "target": {
                "tag": "a",
                "id": "buy",
                "classes": "btn",
                "href": "https://x.example/",
                "text": "Buy",
            },
            "depth": 80,
            "engaged_ms": 1200,
            "sw": 1440,
            "sh": 900,
        }
    )
    assert isinstance(result, Fields)
    assert result.target is not None
    assert result.target.id == "buy"


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (b'{"site": "shop"}', "gzip"),
        (b'{"site": "shop"}', "br"),
        (b"\x1f\x8b\x08\x00\x00\x00", None),  # gzip bytes without the header
    ],
)
def test_compressed_bodies_are_refused_with_415(body: bytes, encoding: str | None) -> None:
    with pytest.raises(ParseError) as refused:
        parse(body, "application/json", encoding)
    assert (refused.value.status, refused.value.error) == (415, "unsupported_encoding")


@pytest.mark.parametrize(
    "bad",
    [b"1e309", b"-1e309", b"1" * 4400, b'"\\ud800"', b'{"k\\udc00": 1}', b"NaN", b"[Infinity]"],
)
def test_an_unrepresentable_value_marks_only_its_event(bad: bytes) -> None:
    events = parse(b'[{"site": "a"}, {"props": {"x": ' + bad + b'}}, {"site": "b"}]', None)
    assert events[0] == {"site": "a"}
    assert isinstance(events[1], Unrepresentable)
    assert events[2] == {"site": "b"}
    assert load_fields(events[1]) == {"_schema": [Unrepresentable.MESSAGE]}


def test_a_single_unrepresentable_event_is_a_400() -> None:
    with pytest.raises(ParseError) as refused:
        parse(b'{"site": "a", "depth": 1e309}', None)
    assert refused.value.status == 400
