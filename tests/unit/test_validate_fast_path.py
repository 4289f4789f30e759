"""The cheap first pass and marshmallow agree: whatever the first accepts, marshmallow
accepts with the very same result, so the fast path gives up no rule."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from service.ingest.validate import _SCHEMA, fast_fields

texts = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["shop", "pageview", "custom", "click", "granted", "implied", "x" * 70]),
    st.sampled_from(["https://shop.example/a", "javascript:alert(1)", "/rel", "http://", ""]),
    st.text(min_size=2040, max_size=2060),
)
numbers = st.one_of(
    st.integers(-10, 2**54),
    st.booleans(),
    st.floats(allow_nan=True),
    st.sampled_from([0, 100, 101]),
)
scalars = st.one_of(st.none(), texts, numbers)
props = st.dictionaries(
    st.text(max_size=45), st.one_of(scalars, st.lists(st.integers(), max_size=2)), max_size=22
)
targets = st.dictionaries(
    st.sampled_from(["tag", "id", "classes", "href", "text", "onclick"]), scalars, max_size=6
)
values = {
    "site": scalars,
    "type": scalars,
    "url": scalars,
    "referrer": scalars,
    "ts": scalars,
    "consent": scalars,
    "visitor_id": scalars,
    "user_id": scalars,
    "name": scalars,
    "props": st.one_of(scalars, props),
    "target": st.one_of(scalars, targets),
    "depth": scalars,
    "engaged_ms": scalars,
    "sw": scalars,
    "sh": scalars,
    "unknown": scalars,
}
# A valid core (so the other fields get exercised), then any field overridden or added.
events = st.fixed_dictionaries({}, optional=values).map(
    lambda extra: {"site": "shop", "url": "https://shop.example/x", **extra}
)


@settings(max_examples=800, deadline=None)
@given(raw=events)
def test_fast_path_never_accepts_what_marshmallow_rejects(raw: dict[str, Any]) -> None:
    fast = fast_fields(raw)
    if fast is None:
        return
    try:
        slow = _SCHEMA.load(raw)
    except ValidationError as exc:
        raise AssertionError(
            f"fast path accepted {raw!r}; marshmallow said {exc.messages}"
        ) from exc
    assert fast == slow


def test_fast_path_takes_the_common_event() -> None:
    raw = {
        "site": "shop",
        "type": "click",
        "url": "https://shop.example/",
        "consent": "granted",
        "visitor_id": "v",
        "props": {"a": 1},
        "target": {"tag": "a", "text": "Buy"},
        "sw": 1440,
    }
    fast = fast_fields(raw)
    assert fast is not None
    assert fast == _SCHEMA.load(raw)
