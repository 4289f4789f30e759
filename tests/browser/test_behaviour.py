"""Behaviour maps and web vitals in a real browser: the second script against the collector.

The test page has known geometry (no margins, a 1280 px wide document in a 1280 by 720
viewport, elements at fixed places), so each click's stored position and each hover cell
can be worked out here and compared.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from pipelines.analysis.metrics.behaviour import VITALS
from tests.browser.conftest import MAPS_TOKEN, Stack, Tab
from tests.browser.test_beacon import HIDE_PAGE, rows, settle

pytestmark = pytest.mark.browser

WIDTH = 1280
# Fixed places: a button that does nothing (dead), one that changes the page, a tracked one,
# and a page 3000 px tall. After 150 ms a banner pushes the content down (a layout shift
# before any input: CLS), and the live button's handler blocks for 120 ms (an interaction
# web-vitals measures: INP).
GEOMETRY = f"""
<div style="position:relative;width:{WIDTH}px;height:3000px">
  <p id="intro" style="position:absolute;left:0;top:0;margin:0">{"text " * 40}</p>
  <div class="card promo" id="box" style="position:absolute;left:640px;top:1000px">
    <button class="cta big" style="width:100px;height:40px;margin:0">Nothing</button>
  </div>
  <button id="live" style="position:absolute;left:100px;top:1200px;width:100px;height:40px">Live</button>
  <button id="signup" data-cc-event="signup" style="position:absolute;left:1100px;top:200px;width:100px;height:40px">Sign up</button>
  <div id="out"></div>
</div>"""
PAGE_SCRIPT = """
<style>html, body { margin: 0; padding: 0; }</style>
<script>
document.addEventListener('DOMContentLoaded', function () {
  setTimeout(function () {
    var banner = document.createElement('div');
    banner.style.height = '50px';
    banner.textContent = 'banner';
    document.body.insertBefore(banner, document.body.firstChild);
  }, 150);
  document.getElementById('live').addEventListener('click', function () {
    var end = performance.now() + 120;
    while (performance.now() < end) {}
    document.getElementById('out').textContent = 'changed';
  });
});
</script>"""
BEHAVIOUR_FIELDS = ("x", "y", "vw", "selector", "rage", "dead", "hover", "vitals")


def record(tab: Tab) -> list[dict[str, Any]]:
    """Every event the page posts to /api/event from now on, as sent."""
    sent: list[dict[str, Any]] = []

    def on_request(request: Any) -> None:
        if request.url.endswith("/api/event") and request.method == "POST":
            body = json.loads(request.post_data or "[]")
            sent.extend(body if isinstance(body, list) else [body])

    tab.page.on("request", on_request)
    return sent


def open_page(stack: Stack, tab: Tab, path: str, site: str = "maps") -> None:
    tab.page.set_viewport_size({"width": WIDTH, "height": 720})
    url = stack.pages.add(path, stack.page_html(GEOMETRY, site=site, head=PAGE_SCRIPT))
    tab.page.goto(url)
    tab.page.bring_to_front()
    # the second script hooked in: its window listener is what places clicks
    tab.page.wait_for_load_state("networkidle")


def test_clicks_hovers_and_vitals_are_stored_where_they_happened(stack: Stack, tab: Tab) -> None:
    open_page(stack, tab, "/maps/geometry")
    mouse = tab.page.mouse
    tab.page.wait_for_timeout(300)  # the banner has shifted the page by now
    # Hover: 700 ms in the cell of (100, 150), then 400 ms in that of (1000, 450).
    mouse.move(100, 150)
    tab.page.wait_for_timeout(700)
    mouse.move(1000, 450)
    tab.page.wait_for_timeout(400)
    mouse.move(1000, 460)  # the same cell: the dwell goes on
    # Three quick clicks on a button that does nothing: dead, and the third a rage click.
    for _ in range(3):
        tab.page.click("#box button")
    tab.page.wait_for_timeout(1200)  # their second is over before anything changes the page
    tab.page.click("#live")  # changes the page: not dead
    tab.page.click("#signup")  # the beacon's own (data-cc-event) click, placed too
    tab.page.wait_for_timeout(1200)  # the live click's second is over
    tab.page.evaluate(HIDE_PAGE)

    clicks = rows(
        stack,
        "SELECT x, y, vw, selector, rage, dead, name FROM events "
        "WHERE site = 'maps' AND path = '/maps/geometry' AND type = 'click' ORDER BY received_at",
        [],
        5,
    )
    assert len(clicks) == 5, clicks
    dead = [c for c in clicks if c[3] == "div#box.card.promo > button.cta.big"]
    assert len(dead) == 3
    # The button's centre: (640 + 50, 1000 + 50 banner + 20) px of a 1280 px wide document.
    for x, y, vw, *_ in dead:
        assert x == round(690 * 1000 / WIDTH)
        assert y == 1070
        assert vw == WIDTH
    assert [c[5] for c in dead] == [True, True, True]
    # One of the three is the rage click (the third the browser saw). Each held click
    # leaves when its own second is over, so they may travel in separate requests, and
    # the collector dates a request by its arrival: on a loaded machine the later request
    # can be handled first, so the rows' order need not be the clicks'.
    assert sorted(c[4] for c in dead) == [False, False, True]
    (live,) = [c for c in clicks if c[3] == "button#live"]
    assert live[5] is False
    assert live[4] is False
    assert (live[0], live[1]) == (round(150 * 1000 / WIDTH), 1270)
    (signup,) = [c for c in clicks if c[6] == "signup"]
    assert signup[3] == "button#signup"
    assert (signup[0], signup[1]) == (round(1150 * 1000 / WIDTH), 270)
    assert signup[5] is None  # the beacon's own clicks are sent at once, not judged

    (engagement,) = rows(
        stack,
        "SELECT hover, vw, lcp_ms, inp_ms, cls, fcp_ms, ttfb_ms FROM events "
        "WHERE site = 'maps' AND path = '/maps/geometry' AND type = 'engagement'",
        [],
        1,
    )
    hover, vw, lcp, inp, cls, fcp, ttfb = engagement
    assert vw == WIDTH
    cells = {(c["col"], c["row"]): c["ms"] for c in hover}
    # (100, 150) at scroll 0: column 100 * 20 // 1280 = 1, row 1; (1000, 450): column 15, row 4.
    assert 600 <= cells[(1, 1)] <= 1500
    assert 350 <= cells[(15, 4)] <= 1300
    assert all(0 <= col < 20 for col, _ in cells)
    assert lcp is not None
    assert lcp > 0
    assert fcp is not None
    assert fcp > 0
    assert ttfb is not None
    assert ttfb >= 0
    assert cls is not None
    assert cls > 0
    assert inp is not None
    assert inp >= 100
    tab.cookies_and_errors_clean()


def test_the_maps_and_vitals_apis_answer_what_was_stored(stack: Stack, tab: Tab) -> None:
    open_page(stack, tab, "/maps/api")
    tab.page.mouse.move(700, 100)
    tab.page.wait_for_timeout(300)
    tab.page.click("#box button")
    tab.page.wait_for_timeout(1200)
    tab.page.evaluate(HIDE_PAGE)
    rows(
        stack,
        "SELECT 1 FROM events WHERE path = '/maps/api' AND type = 'engagement' AND hover IS NOT NULL",
        [],
        1,
    )
    rows(stack, "SELECT 1 FROM events WHERE path = '/maps/api' AND type = 'click'", [], 1)

    def api(endpoint: str, **params: str) -> dict[str, Any]:
        answer: dict[str, Any] = requests.get(
            f"{stack.collector.url}/api/stats/{endpoint}",
            params={"site": "maps", "period": "day", **params},
            headers={"Authorization": f"Bearer {MAPS_TOKEN}"},
            timeout=30,
        ).json()
        return answer

    click_map = api("heatmap", page="/maps/api", kind="click")
    assert click_map["grid"] == {"columns": 20, "row_px": 100}
    assert {
        "col": 10,
        "row": 10,
        "clicks": 1,
        "rage_clicks": 0,
        "dead_clicks": 1,
        "visitors": 1,
    } in (click_map["results"])
    hover_map = api("heatmap", page="/maps/api", kind="hover")
    assert any(c["col"] == 10 and c["row"] == 1 and c["ms"] >= 200 for c in hover_map["results"])
    vitals = api("vitals")
    assert set(vitals["thresholds"]) == set(VITALS)
    (page,) = [r for r in vitals["results"] if r["page"] == "/maps/api"]
    assert page["lcp"]["p75"] > 0
    assert page["lcp"]["samples"] >= 1
    shares = page["lcp"]["good"] + page["lcp"]["needs_improvement"] + page["lcp"]["poor"]
    assert shares == pytest.approx(100, abs=0.2)


def test_denied_consent_sends_none_of_it(stack: Stack, tab: Tab) -> None:
    sent = record(tab)
    open_page(stack, tab, "/maps/denied")
    tab.page.evaluate("() => clearcount('consent', 'denied')")
    tab.page.mouse.move(300, 300)
    tab.page.wait_for_timeout(300)
    tab.page.click("#box button")
    tab.page.click("#signup")
    tab.page.wait_for_timeout(1200)
    tab.page.evaluate(HIDE_PAGE)
    tab.page.wait_for_timeout(300)
    types = {e["type"] for e in sent}
    assert {"pageview", "click", "engagement"} <= types
    assert [e for e in sent if any(f in e for f in BEHAVIOUR_FIELDS)] == []
    assert [e for e in sent if e["type"] == "click" and not e.get("name")] == []


def test_a_site_that_requires_opt_in_sends_none_until_granted(stack: Stack, tab: Tab) -> None:
    sent = record(tab)
    open_page(stack, tab, "/maps/optin", site="mapsoptin")
    tab.page.click("#signup")
    tab.page.wait_for_timeout(300)
    assert [e for e in sent if any(f in e for f in BEHAVIOUR_FIELDS)] == []
    tab.page.evaluate("() => clearcount('consent', 'granted')")
    tab.page.click("#signup")
    tab.page.wait_for_timeout(300)
    placed = [e for e in sent if e["type"] == "click" and "x" in e]
    assert len(placed) == 1
    assert placed[0]["consent"] == "granted"


def test_opted_out_visitors_do_not_load_the_second_script(stack: Stack, browser: Any) -> None:
    context = browser.new_context(extra_http_headers={"Sec-GPC": "1"})
    context.add_init_script(
        "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})"
    )
    page = context.new_page()
    loaded: list[str] = []
    page.on("request", lambda r: loaded.append(r.url) if "behaviour.js" in r.url else None)
    page.goto(stack.pages.add("/maps/gpc", stack.page_html(GEOMETRY, site="maps")))
    page.wait_for_load_state("networkidle")
    assert page.evaluate("() => typeof clearcount") == "function"
    assert loaded == []
    context.close()


def test_a_site_without_maps_gets_an_empty_second_script(stack: Stack, tab: Tab) -> None:
    sent = record(tab)
    open_page(stack, tab, "/maps/off", site="web")
    tab.page.click("#box button")
    tab.page.wait_for_timeout(1200)
    tab.page.evaluate(HIDE_PAGE)
    tab.page.wait_for_timeout(300)
    assert [e for e in sent if any(f in e for f in BEHAVIOUR_FIELDS)] == []
    script = requests.get(f"{stack.collector.url}/api/behaviour.js?site=web", timeout=10)
    assert script.status_code == 200
    assert "off for this site" in script.text


def test_behaviour_works_under_a_strict_csp(stack: Stack, tab: Tab) -> None:
    collector = stack.collector.url
    csp = (
        f"default-src 'none'; script-src {collector}; connect-src {collector}; "
        "img-src data:; style-src 'unsafe-inline'; base-uri 'none'"
    )
    tab.page.set_viewport_size({"width": WIDTH, "height": 720})
    url = stack.pages.add(
        "/maps/csp",
        stack.page_html(GEOMETRY, site="maps", head="<style>body{margin:0}</style>"),
        {"Content-Security-Policy": csp},
    )
    tab.page.goto(url)
    tab.page.wait_for_load_state("networkidle")
    tab.page.mouse.move(50, 50)
    tab.page.wait_for_timeout(300)
    tab.page.click("#box button")
    tab.page.wait_for_timeout(1200)
    tab.page.evaluate(HIDE_PAGE)
    (click,) = rows(
        stack,
        "SELECT x, y, selector, dead FROM events WHERE path = '/maps/csp' AND type = 'click'",
        [],
        1,
    )
    assert click == (round(690 * 1000 / WIDTH), 1020, "div#box.card.promo > button.cta.big", True)
    assert rows(
        stack,
        "SELECT 1 FROM events WHERE path = '/maps/csp' AND type = 'engagement' "
        "AND hover IS NOT NULL AND lcp_ms IS NOT NULL",
        [],
        1,
    )
    tab.cookies_and_errors_clean()


def test_a_busy_hover_grid_stays_under_2_kb(stack: Stack, tab: Tab) -> None:
    """The cursor rests 60 ms in each of 140 cells (a sweep over the page, row after row,
    scrolling as it goes down): the grid the engagement event carries keeps the 100 cells
    with the longest dwell, under 2 KB."""
    sent = record(tab)
    open_page(stack, tab, "/maps/sweep")
    tab.page.evaluate(
        """async () => {
          const rest = () => new Promise(done => setTimeout(done, 60));
          for (let i = 0; i < 140; i++) {
            const row = Math.floor(i / 20), col = i % 20;
            if (col === 0) window.scrollTo(0, row * 400);
            document.dispatchEvent(new MouseEvent('mousemove', {
              clientX: col * 64 + 32, clientY: 50 + (row % 2) * 100, bubbles: true}));
            await rest();
          }
        }"""
    )
    tab.page.evaluate(HIDE_PAGE)
    tab.page.wait_for_timeout(300)
    (engagement,) = [e for e in sent if e["type"] == "engagement"]
    grid = json.dumps(engagement["hover"], separators=(",", ":"))
    assert len(engagement["hover"]) == 100  # more cells were touched: the longest are kept
    assert len(grid) < 2048
    settle(stack)


def test_the_dashboard_frames_the_page_sandboxed_beneath_its_map(stack: Stack, tab: Tab) -> None:
    open_page(stack, tab, "/maps/framed")
    tab.page.click("#box button")
    tab.page.wait_for_timeout(1200)
    tab.page.evaluate(HIDE_PAGE)
    rows(stack, "SELECT 1 FROM events WHERE path = '/maps/framed' AND type = 'click'", [], 1)
    settle(stack)
    views = "SELECT count(*) FROM events WHERE path = '/maps/framed' AND type = 'pageview'"
    before = stack.collector.query(views)[0][0]

    page = tab.context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{stack.collector.url}/dashboard/login?site=maps")
    page.fill("input[name=token]", MAPS_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/maps")
    answer = page.goto(f"{stack.collector.url}/dashboard/maps/heatmap?page=/maps/framed&period=day")
    assert answer is not None
    assert f"frame-src {stack.pages.origin}" in answer.headers["content-security-policy"]
    frame = page.locator("iframe")
    assert frame.get_attribute("sandbox") == ""
    assert frame.get_attribute("src") == f"{stack.pages.origin}/maps/framed"
    assert page.frame_locator("iframe").locator("#live").inner_text() == "Live"
    cells = page.locator("#h-cells").locator("xpath=ancestor::section").locator("tbody tr")
    assert cells.count() >= 1
    # Chromium reports each script the sandbox kept from running in the frame: the point of it
    assert [m for m in errors if "frame is sandboxed" not in m] == []
    assert any("frame is sandboxed" in m for m in errors)
    settle(stack)
    # no script ran in the frame: showing the page counted no page view
    assert stack.collector.query(views)[0][0] == before
