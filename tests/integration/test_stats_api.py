"""Stats API: correct numbers, 401/403, and no published count below k."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import patience
from tests.integration.server import Server

UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
SITES = """\
[sites.shop]
origins = ["https://shop.example"]
stats_token = "shop-token-0123456789"
k = 5
goals = [
  { name = "Read A", page = "/a" },
  { name = "Read B", page = "/b" },
  { name = "Rare", page = "/rar*" },
  { name = "Signup", event = "signup" },
]
funnels = [
  { name = "A then B", steps = ["Read A", "Read B"] },
  { name = "B then A", steps = ["Read B", "Read A"] },
]

[sites.blog]
origins = ["https://blog.example"]
stats_token = "blog-token-9876543210"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("stats")
    (root / "sites.toml").write_text(SITES)
    s = Server(root).start()

    # 12 visitors read /a then /b in one visit, 8 more only /b, 3 only /rare.
    def view(visitor: str, path: str) -> dict[str, str]:
        return {
            "site": "shop",
            "url": f"https://shop.example{path}",
            "consent": "granted",
            "visitor_id": visitor,
        }

    for i in range(12):
        s.post([view(f"a{i}", "/a"), view(f"a{i}", "/b")], UA)
    for i in range(8):
        s.post(view(f"b{i}", "/b"), UA)
    for i in range(3):
        s.post(view(f"r{i}", "/rare"), UA)
    assert s.wait_loaded("events", 35) == 35
    yield s
    s.stop()


def get(
    server: Server, endpoint: str, token: str | None = "shop-token-0123456789", **params: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(
        f"{server.url}/api/stats/{endpoint}",
        params={"site": "shop", "period": "7d", **params},
        headers=headers,
        timeout=patience.HTTP_S,
    )


def assert_no_count_below_k(value: Any, k: int = 5) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "units":
                continue  # each metric's unit, named by the metric
            if key in ("visitors", "visits", "pageviews") and item is not None:
                assert item == 0 or item >= k, (key, item)  # 0 describes no one: shown
            assert_no_count_below_k(item, k)
    elif isinstance(value, list):
        for item in value:
            assert_no_count_below_k(item, k)


@pytest.mark.parametrize(
    ("token", "status"), [(None, 401), ("wrong-token", 401), ("blog-token-9876543210", 403)]
)
def test_tokens(server: Server, token: str | None, status: int) -> None:
    response = get(server, "aggregate", token)
    assert response.status_code == status
    assert response.json()["error"] in ("unauthorized", "forbidden")


def test_aggregate_equals_independent_sql(server: Server) -> None:
    body = get(server, "aggregate").json()
    assert_no_count_below_k(body)
    results = body["results"]
    expected = server.query(
        "SELECT count(DISTINCT visitor_key), count(*) FROM events WHERE site = 'shop' AND type = 'pageview'"
    )[0]
    assert (results["visitors"], results["pageviews"]) == expected == (23, 35)
    assert results["visits"] == 23
    assert results["bounce_rate"] == round(100 * 11 / 23, 1)  # the 8 on /b and the 3 on /rare


def test_breakdown_withholds_small_rows_and_their_complement(server: Server) -> None:
    body = get(server, "breakdown", property="path").json()
    assert_no_count_below_k(body)
    # /rare (3 visitors) is withheld; as the only one, it would be total minus the rest, so the
    # smallest shown row (/a, 12) goes too.
    assert [(r["value"], r["visitors"], r["pageviews"]) for r in body["results"]] == [
        ("/b", 20, 20)
    ]
    assert body["withheld_rows"] == 2


def test_metrics_are_chosen_by_name_and_carry_their_units(server: Server) -> None:
    body = get(server, "aggregate", metrics="pageviews,visitors").json()
    assert list(body["results"]) == ["pageviews", "visitors"]
    assert body["units"] == {"pageviews": "page views", "visitors": "visitors"}
    assert get(server, "aggregate", metrics="revenue").status_code == 400
    # a page breakdown answers what a page view can: visits belong to many pages
    assert get(server, "breakdown", property="path", metrics="visits").status_code == 400


def test_compare_sets_each_total_beside_the_period_before(server: Server) -> None:
    body = get(server, "aggregate", compare="previous_period").json()
    # nothing happened in the seven days before: 0 (shown, it is no one), and no change
    assert body["results"]["visitors"] == {"value": 23, "previous": 0, "change": None}
    assert "suppressed" not in body["results"]  # nothing was withheld: 0 is not small
    assert body["previous_to"] < body["from"]
    assert get(server, "aggregate", compare="last_year").status_code == 400


def test_goals_and_funnels(server: Server) -> None:
    body = get(server, "goals").json()
    goals = {g["goal"]: g for g in body["results"]}
    assert list(goals) == ["Read A", "Read B", "Rare", "Signup"]
    assert (goals["Read A"]["visitors"], goals["Read A"]["conversions"]) == (12, 12)
    assert goals["Read B"]["visitors"] == 20
    assert goals["Read B"]["conversion_rate"] == round(100 * 20 / 23, 1)
    # 3 visitors reached /rare: below k, withheld whole; nobody signed up: 0, shown
    assert goals["Rare"]["visitors"] is None
    assert goals["Rare"]["conversion_rate"] is None
    assert goals["Signup"]["visitors"] == 0
    a_then_b, b_then_a = body["funnels"]
    assert [(s["goal"], s["visits"], s["drop_off"]) for s in a_then_b["steps"]] == [
        ("Read A", 12, 0),
        ("Read B", 12, 0),
    ]
    # /b came after /a in every visit that read both: nobody went from B to A
    assert b_then_a["steps"][0]["visits"] == 20
    assert b_then_a["steps"][1]["visits"] == 0  # nobody: shown as 0, withholding nothing
    assert b_then_a["steps"][1]["drop_off"] == 20
    assert body["units"]["conversions"] == "events"
    assert_no_count_below_k(body)


def test_realtime_counts_the_last_half_hour(server: Server) -> None:
    body = get(server, "realtime").json()
    assert body["visitors"] == 23
    assert body["window_minutes"] == 30


def test_realtime_counts_events_still_in_the_spool(tmp_path: Path) -> None:
    (tmp_path / "sites.toml").write_text(SITES)
    # the loader waits an hour: every event stays in the spool
    idle = Server(tmp_path, env_overrides={"CLEARCOUNT_LOAD_INTERVAL_S": "3600"}).start()
    for i in range(6):
        idle.post(
            {
                "site": "shop",
                "url": "https://shop.example/",
                "consent": "granted",
                "visitor_id": f"s{i}",
            },
            UA,
        )
    assert idle.query("SELECT count(*) FROM events")[0] == (0,)
    assert get(idle, "realtime").json()["visitors"] == 6
    idle.post({"site": "blog", "url": "https://blog.example/"}, UA)  # another site's visitor
    assert get(idle, "realtime").json()["visitors"] == 6
    idle.stop()


def test_timeseries_and_filters(server: Server) -> None:
    body = get(server, "timeseries").json()
    days = body["results"]
    assert len(days) == 1
    assert days[0]["visitors"] == 23
    # the events arrived today, whose numbers are still growing: the answer says so
    assert days[0]["partial"] is True
    assert body["partial_day"] == days[0]["date"]
    past = get(server, "aggregate", period="day", date="2020-01-01").json()
    assert past["partial_day"] is None
    filtered = get(server, "aggregate", filters="path==/rare").json()["results"]
    assert filtered["visitors"] is None
    assert "visitors" in filtered["suppressed"]
    assert get(server, "aggregate", filters="email==x").status_code == 400
    assert get(server, "breakdown", property="visitor_key").status_code == 400


@pytest.mark.parametrize(
    "limit", ["-1", "0", "1001", "1000000000000000000000000", "-100000", "1e3", "x", "1" * 3000]
)
def test_breakdown_limit_outside_1_to_1000_is_a_400(server: Server, limit: str) -> None:
    response = get(server, "breakdown", property="path", limit=limit)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_query"
    if len(limit) > 4:
        assert limit not in response.text  # never echoed


@pytest.mark.parametrize("limit", ["1", "1000"])
def test_breakdown_limit_bounds_are_allowed(server: Server, limit: str) -> None:
    assert get(server, "breakdown", property="path", limit=limit).status_code == 200
