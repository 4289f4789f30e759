"""The beacon in a real browser against the real collector, one behaviour per test."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests import patience
from tests.browser.conftest import HEADLESS_UA, Stack, Tab
from tests.integration.server import Server

pytestmark = pytest.mark.browser

HIDE_PAGE = """() => {
  Object.defineProperty(document, 'hidden', {value: true, configurable: true});
  Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def rows(
    stack: Stack, sql: str, params: list[Any], count: int, timeout_s: float = patience.LOADED_S
) -> list[tuple[Any, ...]]:
    """Poll the DuckDB views until ``count`` rows match (the loader runs every 0.3 s)."""
    deadline = time.monotonic() + timeout_s
    found: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        found = stack.collector.query(sql, params)
        if len(found) >= count:
            return found
        time.sleep(0.25)
    return found


def settle(stack: Stack) -> None:
    """Wait long enough for anything the beacon sent to be loaded (segment age + load)."""
    time.sleep(patience.seconds(2.0))


def test_pageview_spa_navigation_and_clicks(stack: Stack, tab: Tab) -> None:
    url = stack.pages.add(
        "/spa",
        stack.page_html(
            '<a id="out" href="https://example.com/partner?utm_source=spa&token=x">Partner  site </a>'
            '<a id="pdf" href="/spa/files/brochure.pdf">Brochure</a>'
            '<button id="buy" data-cc-event="signup" data-cc-prop-plan="pro" class="btn big">Sign up</button>'
        ),
    )
    tab.page.goto(url + "/home")
    rows(stack, "SELECT 1 FROM events WHERE path = '/spa/home' AND type = 'pageview'", [], 1)
    tab.page.evaluate("() => history.pushState({}, '', '/spa/next')")
    tab.page.click("#buy")
    tab.page.click("#pdf", modifiers=[])  # navigates to the same page server: a download link
    views = rows(
        stack,
        "SELECT path, device IS NOT NULL, referrer FROM events WHERE type = 'pageview' AND path LIKE '/spa/%' ORDER BY received_at",
        [],
        2,
    )
    # Each page view may come in its own request: wait for each, compare without order.
    for path in ("/spa/home", "/spa/next"):
        rows(stack, "SELECT 1 FROM events WHERE type = 'pageview' AND path = ?", [path], 1)
    views = stack.collector.query(
        "SELECT path, device IS NOT NULL FROM events WHERE type = 'pageview' AND path LIKE '/spa/%'"
    )
    assert {"/spa/home", "/spa/next"} <= {v[0] for v in views}
    assert all(v[1] is True for v in views)
    clicks = rows(
        stack,
        "SELECT name, props, target FROM events WHERE type = 'click' AND path LIKE '/spa/%' ORDER BY received_at",
        [],
        2,
    )
    by_name = {c[0]: c for c in clicks}
    assert by_name["signup"][1] == '{"plan":"pro"}'
    assert by_name["signup"][2]["tag"] == "button"
    assert by_name["signup"][2]["text"] == "Sign up"
    assert by_name["download"][2]["href"].endswith("/spa/files/brochure.pdf")
    tab.cookies_and_errors_clean()


def test_outbound_click_is_recorded_before_the_page_leaves(stack: Stack, tab: Tab) -> None:
    url = stack.pages.add(
        "/outbound",
        stack.page_html(
            '<a id="out" href="https://example.com/partner?utm_source=spa&token=x">Partner  site </a>'
        ),
    )
    tab.page.goto(url)
    tab.page.click("#out")
    tab.page.wait_for_url("https://example.com/**")
    (click,) = rows(
        stack, "SELECT name, target FROM events WHERE type = 'click' AND path = '/outbound'", [], 1
    )
    assert click[0] == "outbound"
    assert click[1]["href"] == "https://example.com/partner?utm_source=spa"
    assert click[1]["text"] == "Partner site"


def test_hash_routes_are_page_views_with_data_hash(stack: Stack, tab: Tab) -> None:
    url = stack.pages.add("/hashapp", stack.page_html("<p>hash router</p>", extra="data-hash"))
    tab.page.goto(url)
    tab.page.evaluate("() => { location.hash = '#/cart'; }")
    views = rows(
        stack,
        "SELECT path FROM events WHERE type = 'pageview' AND path LIKE '/hashapp%' ORDER BY received_at",
        [],
        2,
    )
    # One request may carry both, with one received_at: compare without order.
    assert sorted(v[0] for v in views) == ["/hashapp", "/hashapp#/cart"]
    tab.cookies_and_errors_clean()


def test_scroll_then_hide_sends_one_engagement_event(stack: Stack, tab: Tab) -> None:
    url = stack.pages.add(
        "/article", stack.page_html('<div style="height: 5000px">long read</div><p>end</p>')
    )
    tab.page.goto(url)
    tab.page.bring_to_front()
    tab.page.wait_for_timeout(400)
    tab.page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
    tab.page.wait_for_timeout(400)
    tab.page.evaluate(HIDE_PAGE)
    engagement = rows(
        stack,
        "SELECT depth, engaged_ms FROM events WHERE type = 'engagement' AND path = '/article'",
        [],
        1,
    )
    settle(stack)
    engagement = stack.collector.query(
        "SELECT depth, engaged_ms FROM events WHERE type = 'engagement' AND path = '/article'"
    )
    assert len(engagement) == 1
    depth, engaged_ms = engagement[0]
    assert depth >= 90
    assert engaged_ms > 0
    tab.cookies_and_errors_clean()


@pytest.mark.parametrize("how", ["navigate_away", "hide_then_navigate_away", "close"])
def test_leaving_a_page_sends_exactly_one_engagement_event(
    stack: Stack, tab: Tab, how: str
) -> None:
    # Leaving fires both pagehide and visibilitychange (in either order, and a hidden page
    # may be left later): one page view, one engagement event.
    path = f"/leave-{how}"
    url = stack.pages.add(path, stack.page_html("<p>short visit</p>"))
    tab.page.goto(url)
    tab.page.bring_to_front()
    tab.page.wait_for_timeout(500)
    if how == "hide_then_navigate_away":
        tab.page.evaluate(HIDE_PAGE)
        tab.page.wait_for_timeout(100)
    if how == "close":
        tab.page.close(run_before_unload=True)
    else:
        tab.page.goto(stack.pages.add("/elsewhere", "<p>elsewhere</p>"))
    sql = "SELECT engaged_ms FROM events WHERE type = 'engagement' AND path = ?"
    assert rows(stack, sql, [path], 1)
    settle(stack)
    assert len(stack.collector.query(sql, [path])) == 1


def test_granted_consent_gives_one_stable_key_and_withdrawal_forgets_it(
    stack: Stack, tab: Tab
) -> None:
    url = stack.pages.add("/consent", stack.page_html("<p>consent</p>"))
    tab.page.goto(url + "/one")
    tab.page.evaluate("() => clearcount('consent', 'granted')")
    stored_id = tab.page.evaluate("() => localStorage.getItem('cc_vid')")
    assert stored_id
    tab.page.evaluate("() => clearcount('event', 'after-grant', {n: 1})")
    tab.page.goto(url + "/two")  # a new page load: the id comes back from localStorage
    tab.page.evaluate("() => history.pushState({}, '', '/consent/three')")
    # They travel in separate requests, so separate segments: wait for each.
    for path in ("/consent/one", "/consent/two", "/consent/three"):
        rows(stack, "SELECT 1 FROM events WHERE path = ? AND consent = 'granted'", [path], 1)
    # the public API's third argument, the custom event's props, arrives
    assert rows(stack, "SELECT props FROM events WHERE name = 'after-grant'", [], 1) == [
        ('{"n":1}',)
    ]
    granted = stack.collector.query(
        "SELECT path, consent, visitor_key FROM events WHERE path LIKE '/consent/%' AND consent = 'granted'"
    )
    assert {g[0] for g in granted} == {"/consent/one", "/consent/two", "/consent/three"}
    keys = {g[2] for g in granted}
    assert len(keys) == 1
    assert None not in keys
    stable = keys.pop()
    log = rows(
        stack,
        "SELECT consent, visitor_key, source FROM consent_log WHERE visitor_key = ?",
        [stable],
        1,
    )
    assert log[0][0] == "granted"

    tab.page.evaluate("() => clearcount('consent', 'implied')")  # withdrawal
    assert tab.page.evaluate("() => localStorage.length") == 0
    tab.page.evaluate("() => clearcount('event', 'after-withdrawal')")
    (later,) = rows(
        stack, "SELECT consent, visitor_key FROM events WHERE name = 'after-withdrawal'", [], 1
    )
    assert later[0] == "implied"
    assert later[1] != stable
    tab.page.evaluate("() => clearcount('consent', 'denied')")
    tab.page.evaluate("() => clearcount('event', 'after-denial')")
    settle(stack)
    assert stack.collector.query("SELECT count(*) FROM events WHERE name = 'after-denial'") == [
        (0,)
    ]
    assert (
        stack.collector.query(
            "SELECT count(*) FROM denied_counts WHERE type = 'custom' AND site = 'web'"
        )[0][0]
        >= 1
    )
    tab.cookies_and_errors_clean()


@pytest.mark.parametrize(
    ("headers", "init_script"),
    [
        (
            {"Sec-GPC": "1"},
            "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})",
        ),
        ({"DNT": "1"}, "Object.defineProperty(navigator, 'doNotTrack', {get: () => '1'})"),
    ],
    ids=["gpc", "dnt"],
)
def test_gpc_or_dnt_means_nothing_identifying_is_kept(
    stack: Stack, browser: Any, headers: dict[str, str], init_script: str
) -> None:
    context = browser.new_context(extra_http_headers=headers)
    context.add_init_script(init_script)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    prefix = f"/optout-{next(iter(headers)).lower()}"
    url = stack.pages.add(prefix, stack.page_html("<p>opted out</p>"))
    before = stack.collector.query(
        "SELECT coalesce(sum(count), 0) FROM denied_counts WHERE site = 'web' AND type = 'pageview'"
    )[0][0]
    page.goto(url)
    page.evaluate("() => clearcount('consent', 'granted')")
    assert page.evaluate("() => localStorage.length") == 0
    page.evaluate("() => clearcount('event', 'optout-event')")
    after = rows(
        stack,
        "SELECT sum(count) FROM denied_counts WHERE site = 'web' AND type = 'pageview' HAVING sum(count) > ?",
        [before],
        1,
    )
    assert after
    assert stack.collector.query(
        "SELECT count(*) FROM events WHERE path LIKE ?", [prefix + "%"]
    ) == [(0,)]
    assert page.evaluate("document.cookie") == ""
    assert errors == []
    context.close()


def test_beacon_works_under_a_strict_csp(stack: Stack, tab: Tab) -> None:
    collector = stack.collector.url
    csp = (
        f"default-src 'none'; script-src {collector}; connect-src {collector}; "
        "img-src data:; style-src 'none'; base-uri 'none'"
    )
    url = stack.pages.add(
        "/csp", stack.page_html("<p>strict</p>"), {"Content-Security-Policy": csp}
    )
    tab.page.goto(url)
    rows(stack, "SELECT 1 FROM events WHERE path = '/csp' AND type = 'pageview'", [], 1)
    tab.page.evaluate("() => clearcount('event', 'csp-event')")
    assert rows(stack, "SELECT 1 FROM events WHERE name = 'csp-event'", [], 1)
    tab.cookies_and_errors_clean()


# Playwright cannot answer keepalive fetches from a route handler, so the page's own fetch
# refuses the first sends with 503; the retries then reach the real collector.
REFUSE_FETCH = """
window.__ccRefuse = 0;
const realFetch = window.fetch;
window.fetch = function (url, init) {
  if (String(url).endsWith('/api/event') && window.__ccRefuse > 0) {
    window.__ccRefuse--;
    return Promise.resolve(new Response('{}', {status: 503}));
  }
  return realFetch.apply(this, arguments);
};
"""


def test_events_refused_with_503_are_retried(stack: Stack, tab: Tab) -> None:
    tab.context.add_init_script(REFUSE_FETCH)
    url = stack.pages.add("/retry", stack.page_html("<p>retry</p>"))
    tab.page.goto(url)
    rows(stack, "SELECT 1 FROM events WHERE path = '/retry'", [], 1)
    tab.page.evaluate("() => { window.__ccRefuse = 2; clearcount('event', 'retried-event'); }")
    assert rows(stack, "SELECT 1 FROM events WHERE name = 'retried-event'", [], 1)
    assert tab.page.evaluate("() => window.__ccRefuse") == 0
    settle(stack)
    assert stack.collector.query("SELECT count(*) FROM events WHERE name = 'retried-event'") == [
        (1,)
    ]
    tab.cookies_and_errors_clean()


# Records which transport carried each event, in the page origin's localStorage (it outlives
# the page): "fetch" or "beacon", then the event's name or type.
RECORD_TRANSPORT = """
const realFetch = window.fetch, realBeacon = navigator.sendBeacon.bind(navigator);
function record(transport, url, body) {
  if (!String(url).endsWith('/api/event')) return;
  const sent = JSON.parse(localStorage.getItem('cc_test_sent') || '[]');
  for (const e of JSON.parse(body)) sent.push(transport + ' ' + (e.name || e.type));
  localStorage.setItem('cc_test_sent', JSON.stringify(sent));
}
window.fetch = function (url, init) {
  record('fetch', url, init.body);
  return realFetch.apply(this, arguments);
};
navigator.sendBeacon = function (url, body) {
  record('beacon', url, body);
  return realBeacon(url, body);
};
"""


def test_events_waiting_when_a_navigation_away_begins_leave_as_a_beacon(
    stack: Stack, tab: Tab
) -> None:
    # Chromium cancels a fetch started while the page is being left (whether it reached the
    # collector is then unknown): events waiting for their batch must not go that way, but as
    # a beacon at beforeunload. The next page answers slowly, so the beacon's 50 ms batching
    # timer fires while the navigation is under way.
    tab.context.add_init_script(RECORD_TRANSPORT)
    url = stack.pages.add("/leaving", stack.page_html("<p>leaving</p>"))
    slow = stack.pages.add("/slow-next", "<p>next</p>", delay_s=patience.seconds(0.5))
    tab.page.goto(url)
    rows(stack, "SELECT 1 FROM events WHERE path = '/leaving'", [], 1)
    tab.page.evaluate("() => clearcount('event', 'just-before-leaving')")
    tab.page.goto(slow)
    sent = tab.page.evaluate("() => JSON.parse(localStorage.getItem('cc_test_sent'))")
    assert "beacon just-before-leaving" in sent
    assert "fetch just-before-leaving" not in sent
    assert rows(stack, "SELECT 1 FROM events WHERE name = 'just-before-leaving'", [], 1)
    settle(stack)
    assert stack.collector.query(
        "SELECT count(*) FROM events WHERE name = 'just-before-leaving'"
    ) == [(1,)]
    tab.cookies_and_errors_clean()


@pytest.mark.parametrize("allowed", [False, True], ids=["without", "with"])
def test_local_pages_are_ignored_without_data_allow_local_and_the_console_says_why(
    allowed: bool, stack: Stack, tab: Tab
) -> None:
    warnings: list[str] = []
    tab.page.on("console", lambda msg: warnings.append(msg.text) if msg.type == "warning" else None)
    path = f"/local-{'allowed' if allowed else 'ignored'}"
    attribute = " data-allow-local" if allowed else ""
    html = f'<!doctype html><link rel="icon" href="data:,"><script defer src="{stack.collector.url}/beacon.js" data-site="web"{attribute}></script><p>local</p>'
    tab.page.goto(stack.pages.add(path, html))
    tab.page.evaluate("() => clearcount('event', 'never-sent')")  # the API exists either way
    where = f"events WHERE path = '{path}'"
    if allowed:
        assert stack.collector.wait_loaded(where, 1) >= 1
        assert warnings == []
    else:
        settle(stack)
        assert stack.collector.query(f"SELECT count(*) FROM {where}") == [(0,)]  # noqa: S608
        assert warnings == ["clearcount: ignoring a local page; add data-allow-local to the tag"]
    tab.cookies_and_errors_clean()


def test_the_demo_page_sends_events_on_whatever_port_serve_binds(
    tmp_path: Any, browser: Any
) -> None:
    # No sites file: `serve` writes its demo one, whose origins follow the bind, as on a
    # first `make run` with another --bind.
    server = Server(tmp_path, {"CLEARCOUNT_DEMO": "1"}, sites_toml=None).start()
    assert server.port != 8000
    try:
        context = browser.new_context()
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(server.url + "/demo")
        page.click("text=Pricing")
        page.click("#consent-grant")
        page.click("text=Choose Pro")
        assert server.wait_loaded("events WHERE site = 'demo' AND name = 'choose-plan'", 1) == 1
        # Each page view may travel in its own request, so its own segment: wait for each.
        for path in ("/demo", "/demo/pricing"):
            where = f"events WHERE site = 'demo' AND type = 'pageview' AND path = '{path}'"
            assert server.wait_loaded(where, 1) >= 1, path
        assert errors == []
        context.close()
    finally:
        server.stop()


def test_headless_browser_is_quarantined(stack: Stack, browser: Any) -> None:
    context = browser.new_context(user_agent=HEADLESS_UA)
    page = context.new_page()
    url = stack.pages.add("/headless", stack.page_html("<p>bot</p>"))
    page.goto(url)
    found = rows(stack, "SELECT drop_reason FROM quarantine WHERE path = '/headless'", [], 1)
    assert found == [("headless",)]
    assert stack.collector.query("SELECT count(*) FROM events WHERE path = '/headless'") == [(0,)]
    context.close()
