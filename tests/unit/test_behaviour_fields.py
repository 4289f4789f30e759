"""The behaviour fields (DESIGN §9) at the collector: validation, the site's switches, the
consent states, and the selector's scrubbing, each rule a row."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.ingest.event import Dropped, Event
from service.ingest.minimize import BEHAVIOUR_COLUMNS
from service.ingest.validate import load_fields
from service.privacy.pii import REDACTED
from tests.conftest import make_site, run_one

URL = "https://shop.example/pricing"
CLICK = {"x": 539, "y": 1070, "vw": 1280, "selector": "div#box.card > button.cta", "rage": True}
ENGAGEMENT = {
    "vw": 390,
    "hover": [[1, 1, 700], [15, 4, 420]],
    "vitals": {"lcp": 1234.4, "inp": 96, "cls": 0.04567, "fcp": 800.6, "ttfb": 120.2},
}


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"site": "shop", "type": kind, "url": URL, **fields}


@pytest.mark.parametrize(
    ("payload", "field", "accepted"),
    [
        (event("click", **CLICK, dead=False), None, True),
        (event("engagement", **ENGAGEMENT), None, True),
        (event("click", x=0, y=0, vw=1), None, True),
        (event("click", x=1000, y=999_999, vw=100_000), None, True),
        (event("click", x=1001), "x", False),
        (event("click", x=-1), "x", False),
        (event("click", y=1_000_000), "y", False),
        (event("click", vw=0), "vw", False),
        (event("click", x=5.5), "x", False),
        (event("click", rage=1), "rage", False),
        (event("click", dead="true"), "dead", False),
        (event("pageview", x=3), "x", False),
        (event("custom", name="n", selector="a"), "selector", False),
        (event("pageview", vw=300), "vw", False),
        (event("click", hover=[[0, 0, 1]]), "hover", False),
        (event("click", vitals={"lcp": 1}), "vitals", False),
        (event("click", selector="a"), None, True),
        (event("click", selector="my-widget > svg.icon"), None, True),
        (event("click", selector="a[href='/x']"), "selector", False),
        (event("click", selector="a:nth-child(2)"), "selector", False),
        (event("click", selector="button > Sign up"), "selector", False),
        (event("click", selector="a" * 257), "selector", False),
        (event("click", selector=""), "selector", False),
        (event("engagement", hover=[]), None, True),
        (event("engagement", hover=[[0, 0, 1]] * 1), None, True),
        (event("engagement", hover=[[c % 20, c // 20, 5] for c in range(400)]), None, True),
        (event("engagement", hover=[[c % 20, c // 20, 5] for c in range(401)]), "hover", False),
        (event("engagement", hover=[[0, 0, 5], [0, 0, 6]]), "hover", False),
        (event("engagement", hover=[[20, 0, 5]]), "hover", False),
        (event("engagement", hover=[[0, 10_000, 5]]), "hover", False),
        (event("engagement", hover=[[0, 0, 0]]), "hover", False),
        (event("engagement", hover=[[0, 0, 3_600_001]]), "hover", False),
        (event("engagement", hover=[[0, 0]]), "hover", False),
        (event("engagement", hover=[[0, 0, 1.5]]), "hover", False),
        (event("engagement", hover=[[0, True, 5]]), "hover", False),
        (event("engagement", hover={"0,0": 5}), "hover", False),
        (event("engagement", hover=[None, None]), "hover", False),
        (event("click", hover=[None, None]), "hover", False),  # found by the API fuzzer: a 500
        (event("engagement", hover="cells"), "hover", False),
        (event("engagement", vitals={}), None, True),
        (event("engagement", vitals={"lcp": None, "cls": 0}), None, True),
        (event("engagement", vitals={"lcp": 600_001}), "vitals", False),
        (event("engagement", vitals={"cls": -0.1}), "vitals", False),
        (event("engagement", vitals={"inp": True}), "vitals", False),
        (event("engagement", vitals={"inp": "96"}), "vitals", False),
        (event("engagement", vitals={"fid": 10}), "vitals", False),
        (event("engagement", vitals={"jane@mail.example": 10}), "vitals", False),
    ],
)
def test_validation(payload: dict[str, Any], field: str | None, accepted: bool) -> None:
    result = load_fields(payload)
    if accepted:
        assert not isinstance(result, dict), result
    else:
        assert isinstance(result, dict)
        assert field in result
        assert "jane@" not in repr(result)  # an error never echoes what was sent
        assert json.loads(json.dumps(result)) == result  # the body is JSON (string keys only)


def stored(payload: dict[str, Any], make_ctx: Any, **site: Any) -> dict[str, Any] | None:
    ctx = make_ctx(make_site(**site))
    result = run_one(ctx, payload)
    if isinstance(result, Dropped):
        return None
    assert isinstance(result, Event)
    assert result.row is not None
    return dict(result.row)


@pytest.mark.parametrize(
    ("heatmaps", "vitals", "kept"),
    [
        (True, True, {"x", "y", "vw", "selector", "rage", "dead", "hover", "vitals"}),
        (True, False, {"x", "y", "vw", "selector", "rage", "dead", "hover"}),
        (False, True, {"vitals"}),
        (False, False, set()),
    ],
)
def test_a_site_stores_only_what_it_turned_on(
    make_ctx: Any, heatmaps: bool, vitals: bool, kept: set[str]
) -> None:
    click = stored(event("click", **CLICK, dead=False), make_ctx, heatmaps=heatmaps, vitals=vitals)
    engagement = stored(
        event("engagement", **ENGAGEMENT), make_ctx, heatmaps=heatmaps, vitals=vitals
    )
    assert click is not None
    assert engagement is not None
    for name in ("x", "y", "selector", "rage", "dead"):
        assert (click.get(name) is not None) == (name in kept)
    assert (click.get("vw") is not None) == ("vw" in kept)
    assert (engagement.get("hover") is not None) == ("hover" in kept)
    assert (engagement.get("lcp_ms") is not None) == ("vitals" in kept)
    assert set(click) >= set(BEHAVIOUR_COLUMNS) or not (heatmaps or vitals)


def test_stored_values_have_the_columns_types(make_ctx: Any) -> None:
    click = stored(event("click", **CLICK, dead=False), make_ctx, heatmaps=True, vitals=True)
    engagement = stored(event("engagement", **ENGAGEMENT), make_ctx, heatmaps=True, vitals=True)
    assert click is not None
    assert engagement is not None
    assert (click["x"], click["y"], click["vw"], click["rage"], click["dead"]) == (
        539,
        1070,
        1280,
        True,
        False,
    )
    assert engagement["hover"] == [
        {"col": 1, "row": 1, "ms": 700},
        {"col": 15, "row": 4, "ms": 420},
    ]
    assert (engagement["lcp_ms"], engagement["inp_ms"], engagement["fcp_ms"]) == (1234, 96, 801)
    assert (engagement["ttfb_ms"], engagement["cls"]) == (120, 0.0457)
    assert engagement["vw"] == 390


@pytest.mark.parametrize(
    ("selector", "kept"),
    [
        ("div#box.card > button.cta", "div#box.card > button.cta"),
        ("li#order-1234567890 > a", f"li#order-{REDACTED} > a"),
        ("div.user-jane_doe-example > a", "div.user-jane_doe-example > a"),
        ("span#tel-02079460958", f"span#tel-{REDACTED}"),
        ("tr#user-12345678 > td", f"tr#user-{REDACTED} > td"),  # a record's number
        ("div#step-2024 > a.page-3", "div#step-2024 > a.page-3"),
    ],
)
def test_selectors_are_scrubbed_like_click_ids_and_classes(
    make_ctx: Any, selector: str, kept: str
) -> None:
    click = stored(event("click", selector=selector), make_ctx, heatmaps=True)
    assert click is not None
    assert click["selector"] == kept


@pytest.mark.parametrize(
    ("consent", "site", "stored_row"),
    [
        ("denied", {}, False),
        ("implied", {}, True),
        ("granted", {}, True),
        ("implied", {"default_consent": "denied", "require_opt_in": True}, False),
        (None, {"default_consent": "denied", "require_opt_in": True}, False),
        ("granted", {"default_consent": "denied", "require_opt_in": True}, True),
    ],
)
def test_behaviour_is_kept_only_under_implied_or_granted(
    make_ctx: Any, consent: str | None, site: dict[str, Any], stored_row: bool
) -> None:
    payload = event("click", **CLICK, consent=consent)
    row = stored(payload, make_ctx, heatmaps=True, vitals=True, **site)
    assert (row is not None and row["x"] == 539) is stored_row
