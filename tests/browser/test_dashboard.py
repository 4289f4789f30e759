"""The dashboard in a real browser against the real `clearcount serve`, on demo traffic.

Signing in, the period picker, a row that filters every panel, CSV against the
Stats API, "withheld" where the API says null, realtime moving as events
arrive; and the screenshots the README shows (light and dark, desktop and
phone, the heatmap view), written to the test's temporary folder, or to
docs/screenshots/ by `make screenshots` (CLEARCOUNT_SCREENSHOTS names the folder).
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page

from tests import patience
from tests.integration.server import Server, copy_demo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: a run of the suite leaves the checkout as it found it."""
    chosen = os.environ.get("CLEARCOUNT_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


SHARE_TOKEN = "share-0123456789abcdef-demo"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


@dataclass
class Dash:
    server: Server
    token: str

    def api(self, endpoint: str, **params: str) -> dict[str, Any]:
        response = requests.get(
            f"{self.server.url}/api/stats/{endpoint}",
            params={"site": "demo", **params},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=patience.HTTP_S,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory, demo_source: Path) -> Iterator[Dash]:
    root = tmp_path_factory.mktemp("dashboard")
    copy_demo(demo_source, root)
    sites = root / "sites.toml"
    text = sites.read_text()
    token = re.compile(r'stats_token = "([^"]+)"').search(text, text.index("[sites.demo]"))
    assert token is not None
    text = text.replace(
        f'stats_token = "{token.group(1)}"',
        f'stats_token = "{token.group(1)}"\nshare_token = "{SHARE_TOKEN}"',
        1,
    )
    sites.write_text(text)
    server = Server(root, {"CLEARCOUNT_LOGIN_RATE_LIMIT": "5"}, sites_toml=None).start()
    try:
        yield Dash(server, token.group(1))
    finally:
        server.stop()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    yield ctx
    ctx.close()


def watch_errors(page: Page) -> list[str]:
    """Console errors, CSP violations among them, and uncaught exceptions."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def sign_in(page: Page, dash: Dash, path: str = "/dashboard/demo") -> None:
    page.goto(dash.server.url + path)
    assert "/dashboard/login" in page.url
    page.fill("input[name=token]", dash.token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard/demo"))
    if path != "/dashboard/demo":
        page.goto(dash.server.url + path)


def table_rows(page: Page, panel: str) -> dict[str, list[str]]:
    """A panel's rows: first cell → the other cells' text."""
    out = {}
    for row in page.locator(f"#panel-{panel} tbody tr").all():
        cells = [c.strip() for c in row.locator("th, td").all_inner_texts()]
        out[cells[0]] = cells[1:]
    return out


def realtime_updated(page: Page, after: str | None = None) -> str:
    """Wait until the realtime count has been fetched (again, when ``after`` is given) and
    return when; polled from here, since the page's CSP forbids evaluating strings."""
    deadline = time.monotonic() + patience.seconds(45)
    while time.monotonic() < deadline:
        stamp = page.locator("#cc-realtime").get_attribute("data-updated")
        if stamp and stamp != after:
            return stamp
        page.wait_for_timeout(250)
    raise AssertionError("the realtime count was not refreshed")


def number(text: str) -> int | None:
    return None if text == "withheld" else int(text.replace(",", ""))


# ---- sign-in, sessions, shared links ------------------------------------------------------


def test_login_gives_a_strict_expiring_session_and_logout_ends_it(dash: Dash) -> None:
    url = dash.server.url
    anonymous = requests.get(f"{url}/dashboard/demo", allow_redirects=False, timeout=30)
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == "/dashboard/login?site=demo"

    wrong = requests.post(
        f"{url}/dashboard/login", data={"site": "demo", "token": "nope"}, timeout=30
    )
    assert wrong.status_code == 401
    assert "nope" not in wrong.text
    assert "Set-Cookie" not in wrong.headers

    session = requests.Session()
    ok = session.post(
        f"{url}/dashboard/login",
        data={"site": "demo", "token": dash.token},
        allow_redirects=False,
        timeout=30,
    )
    assert ok.status_code == 303
    assert ok.headers["Location"] == "/dashboard/demo"
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    assert dash.token not in cookie
    assert session.get(f"{url}/dashboard/demo", timeout=30).status_code == 200
    # the session also answers the Stats API for its site, and only for it
    assert session.get(f"{url}/api/stats/realtime?site=demo", timeout=30).status_code == 200
    assert session.get(f"{url}/api/stats/realtime?site=blog", timeout=30).status_code == 401

    # behind a trusted https proxy the cookie is Secure
    proxied = requests.post(
        f"{url}/dashboard/login",
        data={"site": "demo", "token": dash.token},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.2"},
        allow_redirects=False,
        timeout=30,
    )
    assert "Secure" in proxied.headers["Set-Cookie"]

    kept = session.cookies["clearcount_session"]  # a copy taken before logging out
    out = session.post(f"{url}/dashboard/logout", allow_redirects=False, timeout=30)
    assert out.status_code == 303
    assert (
        session.get(f"{url}/dashboard/demo", allow_redirects=False, timeout=30).status_code == 302
    )
    # The copy, replayed, opens nothing: not the dashboard, not the Stats API, on any worker
    # (fresh connections land on either).
    for _ in range(6):
        replayed = {"clearcount_session": kept}
        page = requests.get(
            f"{url}/dashboard/demo", cookies=replayed, allow_redirects=False, timeout=30
        )
        assert page.status_code == 302
        api = requests.get(f"{url}/api/stats/realtime?site=demo", cookies=replayed, timeout=30)
        assert api.status_code == 401


@pytest.mark.parametrize(
    "cookie",
    [
        "demo.9999999999.AAAA",  # forged signature
        "blog.9999999999.",  # no signature
        "demo.1.x",  # expired and unsigned
        "",
    ],
)
def test_a_forged_or_expired_cookie_is_sent_to_the_login(dash: Dash, cookie: str) -> None:
    response = requests.get(
        f"{dash.server.url}/dashboard/demo",
        cookies={"clearcount_session": cookie},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302


def test_a_session_for_one_site_does_not_open_another(dash: Dash) -> None:
    session = requests.Session()
    session.post(
        f"{dash.server.url}/dashboard/login", data={"site": "demo", "token": dash.token}, timeout=30
    )
    other = session.get(f"{dash.server.url}/dashboard/blog", allow_redirects=False, timeout=30)
    assert other.status_code == 302


def test_a_share_link_opens_the_view_read_only(dash: Dash) -> None:
    url = dash.server.url
    shared = requests.get(f"{url}/dashboard/demo?auth={SHARE_TOKEN}", timeout=30)
    assert shared.status_code == 200
    assert "Shared view (read only)" in shared.text
    assert "Log out" not in shared.text
    assert shared.headers["Referrer-Policy"] == "no-referrer"
    assert (
        requests.get(
            f"{url}/dashboard/demo?auth=wrong", allow_redirects=False, timeout=30
        ).status_code
        == 302
    )
    # the share token is the demo site's only: it opens no other site
    assert (
        requests.get(
            f"{url}/dashboard/blog?auth={SHARE_TOKEN}", allow_redirects=False, timeout=30
        ).status_code
        == 302
    )


def test_wrong_tokens_are_rate_limited_per_client_network_across_workers(dash: Dash) -> None:
    url = dash.server.url
    # A new connection for each guess, so the guesses land on both workers: the count is
    # the network's, shared through the keys location, not each worker's own.
    codes = [
        requests.post(
            f"{url}/dashboard/login",
            data={"site": "demo", "token": f"guess{i}"},
            headers={"X-Forwarded-For": "127.0.0.77"},
            timeout=30,
        ).status_code
        for i in range(8)
    ]
    assert codes == [401] * 5 + [429] * 3
    # another client is not held back by it
    other = requests.post(
        f"{url}/dashboard/login",
        data={"site": "demo", "token": dash.token},
        headers={"X-Forwarded-For": "127.0.0.78"},
        allow_redirects=False,
        timeout=30,
    )
    assert other.status_code == 303


# ---- the view ----------------------------------------------------------------------------


def test_period_filter_and_withheld_agree_with_the_stats_api(
    dash: Dash, context: BrowserContext
) -> None:
    page = context.new_page()
    errors = watch_errors(page)
    sign_in(page, dash)
    assert page.locator("#panel-series canvas").count() >= 1  # uPlot drew the chart

    top = dash.api("aggregate", period="30d", compare="previous_period")["results"]
    visitors = page.locator('[data-metric="visitors"] .value').inner_text()
    assert number(visitors) == top["visitors"]["value"]
    previous = page.locator('[data-metric="visitors"] .previous .was').inner_text()
    assert top["visitors"]["previous"] == 0  # the month before the demo: no one, shown
    assert previous == "vs 0"
    # A rate of no visits is undefined, not withheld: the card says there was no data.
    bounce = page.locator('[data-metric="bounce_rate"] .previous .was').inner_text()
    assert top["bounce_rate"]["previous"] is None
    assert bounce == "vs no data"

    page.click("nav.periods >> text=7 days")
    page.wait_for_url(re.compile(r"period=7d"))
    week = dash.api("aggregate", period="7d")["results"]
    assert (
        number(page.locator('[data-metric="pageviews"] .value').inner_text()) == (week["pageviews"])
    )

    # a source row filters every panel that a filter can narrow
    api_sources = dash.api("breakdown", property="source", period="7d")
    pick = api_sources["results"][0]["value"]
    page.locator("#panel-source tbody th a", has_text=re.compile(f"^{pick}$")).click()
    page.wait_for_url(re.compile(r"filters=source"))
    assert page.locator(".chips .chip").inner_text().startswith("source is")
    filtered = {"period": "7d", "filters": f"source=={pick}"}
    assert (
        number(page.locator('[data-metric="visits"] .value').inner_text())
        == (dash.api("aggregate", **filtered)["results"]["visits"])
    )
    for prop, panel in (("country", "country"), ("path", "path"), ("browser", "browser")):
        expected = dash.api("breakdown", property=prop, **filtered)
        shown = table_rows(page, panel)
        assert list(shown) == [str(r["value"]) for r in expected["results"]], panel
        assert [number(v[0]) for v in shown.values()] == [
            r["visitors"] for r in expected["results"]
        ]
        withheld = page.locator(f"#panel-{panel} .withheld")
        if expected["withheld_rows"]:
            assert withheld.inner_text().startswith(f"{expected['withheld_rows']} row")
        else:
            assert withheld.count() == 0
    sources = table_rows(page, "source")
    assert list(sources) == [pick]
    assert "not narrowed by the filters" in page.locator("#panel-consent_mix").inner_text()

    # removing the chip brings the whole view back
    page.locator(".chips .chip a").click()
    page.wait_for_url(re.compile(r"^(?!.*filters=)"))
    assert len(table_rows(page, "source")) > 1
    assert errors == []


def test_keyboard_reaches_and_follows_a_filter(dash: Dash, context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page, dash, "/dashboard/demo?period=7d")
    link = page.locator("#panel-device tbody th a").first
    link.focus()
    assert page.evaluate("document.activeElement.textContent") == link.inner_text()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"filters=device"))


def test_csv_and_zip_hold_the_stats_api_rows(dash: Dash, context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page, dash, "/dashboard/demo?period=30d")
    with page.expect_download() as got:
        page.click("#panel-source a.csv")
    text = Path(got.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    api = dash.api("breakdown", property="source", period="30d")["results"]
    assert [r["value"] for r in rows] == [a["value"] for a in api]
    for row, expected in zip(rows, api, strict=True):
        for name in ("visitors", "visits", "pageviews"):
            assert int(row[name]) == expected[name]

    with page.expect_download() as got:
        page.click("p.export a")
    archive = zipfile.ZipFile(got.value.path())
    names = set(archive.namelist())
    assert {"top.csv", "series.csv", "source.csv", "consent_mix.csv", "view.json"} <= names
    assert archive.read("source.csv").decode() == text
    series = list(csv.DictReader(io.StringIO(archive.read("series.csv").decode())))
    api_days = {r["date"]: r for r in dash.api("timeseries", period="30d")["results"]}
    assert len(series) == 30
    for day in series:
        expected = api_days.get(day["date"])
        value = None if day["visitors"] == "withheld" else int(day["visitors"])
        assert value == (expected["visitors"] if expected else 0)
    assert series[-1]["partial"] == "True"


def test_realtime_moves_when_visitors_arrive(dash: Dash, context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page, dash, "/dashboard/demo?period=day")
    count = page.locator("#cc-realtime-count")
    first = realtime_updated(page)
    before = count.inner_text()
    (loaded,) = dash.server.query("SELECT count(*) FROM events")[0]
    for i in range(8):  # eight new visitors (implied consent: address and browser)
        dash.server.post(
            {"site": "demo", "url": "http://127.0.0.1/realtime"},
            {"User-Agent": UA, "X-Forwarded-For": f"127.0.9.{i + 1}"},
        )
    page.evaluate("() => window.dispatchEvent(new Event('focus'))")  # refresh now
    realtime_updated(page, first)
    after = count.inner_text()
    assert after != before
    assert after.isdigit()
    assert before == "withheld" or int(after) >= int(before) + 8
    # Realtime counts events still in the spool; the views that follow read the lake
    # and its rollup, so let the eight land there before the next test renders them.
    assert dash.server.wait_loaded("events", loaded + 8) == loaded + 8


def test_hourly_series_for_one_day(dash: Dash, context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page, dash, "/dashboard/demo?period=day")
    assert page.locator("#h-series").inner_text() == "Hourly traffic"
    data = page.evaluate("JSON.parse(document.getElementById('cc-series').textContent)")
    assert len(data["labels"]) == 24
    assert data["labels"][0].endswith("T00:00:00Z")
    hours = dash.api("timeseries", period="day", interval="hour")["results"]
    by_hour = {r["hour"]: r["pageviews"] for r in hours}
    for label, value in zip(data["labels"], data["series"]["pageviews"], strict=True):
        assert value == by_hour.get(label, 0)


def test_screenshots_light_dark_desktop_and_phone(
    dash: Dash, browser: Browser, shots: Path
) -> None:
    for name, scheme, width, height in (
        ("dashboard-light", "light", 1280, 900),
        ("dashboard-dark", "dark", 1280, 900),
        ("dashboard-phone", "light", 390, 844),
        ("dashboard-phone-dark", "dark", 390, 844),
    ):
        ctx = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
        try:
            page = ctx.new_page()
            errors = watch_errors(page)
            sign_in(page, dash, "/dashboard/demo?period=7d")
            realtime_updated(page)
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= width, f"{name}: the page is wider than the screen"
            path = shots / f"{name}.png"
            page.screenshot(path=str(path), full_page=width > 600)
            assert path.stat().st_size > 10_000
            assert errors == []
        finally:
            ctx.close()


# ---- behaviour maps and web vitals ----------------------------------------------------------


def test_vitals_panel_shows_the_stats_apis_p75(dash: Dash, context: BrowserContext) -> None:
    page = context.new_page()
    errors = watch_errors(page)
    sign_in(page, dash, "/dashboard/demo?period=7d")
    api = dash.api("vitals", period="7d")
    shown = table_rows(page, "vitals")
    assert api["total"] is not None
    rows = [("All pages", api["total"])] + [(r["page"], r) for r in api["results"]]
    assert list(shown) == [label for label, _ in rows]
    for label, row in rows:
        # LCP is the first vital column after page views, shown as seconds or milliseconds
        lcp = shown[label][1]
        p75 = row["lcp"]["p75"]
        assert lcp == (f"{p75 / 1000:.2f} s" if p75 >= 1000 else f"{p75:.0f} ms"), label
    rated = page.locator("#panel-vitals td.rating").first.get_attribute("class") or ""
    assert re.search(r"\b(good|needs-improvement|poor)\b", rated)
    assert errors == []


@pytest.mark.parametrize(
    "asked",
    [
        "/api/pixel.gif?site=demo&c=crafted",  # a pixel hit: counts a visit
        "/r?site=demo&to=https://shop.example/",  # a campaign click
        "/r",
        "/api/pixel.gif",
        "/dashboard/logout",
        "//evil.test/x",
        "/never-viewed-page",
    ],
    ids=["pixel-query", "redirect-query", "redirect", "pixel", "dashboard", "other-host", "unseen"],
)
def test_the_heatmap_frames_only_a_page_the_site_has_views_for(dash: Dash, asked: str) -> None:
    share = {"auth": SHARE_TOKEN, "period": "7d"}
    known = dash.api("breakdown", property="path", period="7d", metrics="pageviews")
    viewed = known["results"][-1]["value"]  # viewed, though not the most viewed page
    url = f"{dash.server.url}/dashboard/demo/heatmap"
    ok = requests.get(url, params={**share, "page": viewed}, timeout=patience.HTTP_S)
    assert ok.status_code == 200
    refused = requests.get(url, params={**share, "page": asked}, timeout=patience.HTTP_S)
    assert refused.status_code == 400
    assert "<iframe" not in refused.text


def test_heatmap_view_draws_the_stats_apis_cells(
    dash: Dash, context: BrowserContext, shots: Path
) -> None:
    page = context.new_page()
    errors = watch_errors(page)
    sign_in(page, dash, "/dashboard/demo?period=7d")
    page.click("header.bar >> text=Heatmaps")
    page.wait_for_url(re.compile(r"/dashboard/demo/heatmap"))
    top_page = dash.api("breakdown", property="path", period="7d", metrics="pageviews")
    chosen = top_page["results"][0]["value"]
    assert page.locator("select[name=page]").input_value() == chosen
    for kind in ("click", "hover", "scroll"):
        page.goto(f"{dash.server.url}/dashboard/demo/heatmap?period=7d&width=all&kind={kind}")
        api = dash.api("heatmap", period="7d", page=chosen, kind=kind, width="all")
        assert api["results"], kind  # the demo traffic has maps to draw
        rows = page.locator("#h-cells").locator("xpath=ancestor::section").locator("tbody tr")
        assert rows.count() == min(len(api["results"]), 11 if kind == "scroll" else 50)
        # the canvas is painted: some pixel is not the page's background
        painted = page.evaluate(
            """() => {
              const c = document.getElementById('cc-heatmap');
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              const seen = new Set();
              for (let i = 0; i < d.length; i += 4 * 97) seen.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]);
              return seen.size;
            }"""
        )
        assert painted > 3, kind
    page.goto(f"{dash.server.url}/dashboard/demo/heatmap?period=7d&width=all&kind=click")
    cells = dash.api("heatmap", period="7d", page=chosen, kind="click", width="all")["results"]
    busiest = max(c["clicks"] for c in cells)
    section = page.locator("#h-cells").locator("xpath=ancestor::section")
    assert number(section.locator("tbody tr").first.locator("td").first.inner_text()) == busiest
    elements = page.locator("#h-elements").locator("xpath=ancestor::section").inner_text()
    # the demo's partner link sits in two places on every layout, each clicked by k visitors
    assert "main > a.partner" in elements
    assert "footer > a.partner" in elements
    assert page.locator("iframe").count() == 0  # the demo site does not allow framing
    assert errors == []
    page.goto(f"{dash.server.url}/dashboard/demo/heatmap?period=7d&width=all&kind=hover")
    page.screenshot(path=str(shots / "heatmap.png"), full_page=True)
