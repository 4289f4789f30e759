"""Real headless Chromium (Debian's) against the real collector, pages on another loopback port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.integration.server import Server, free_port

CHROMIUM = "/usr/bin/chromium"
MAPS_TOKEN = "maps-token-0123456789"  # the stats_token of the site with maps and vitals on
# Headless Chromium announces itself as HeadlessChrome, which the collector quarantines as a
# bot (see test_headless_browser_is_quarantined); the tests present a desktop Chrome. It is set
# for the whole browser: a per-context override misses beacons sent while a page unloads.
DESKTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
HEADLESS_UA = DESKTOP_UA.replace("Chrome/", "HeadlessChrome/")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    f"--user-agent={DESKTOP_UA}",
]


@dataclass
class PageServer:
    """Serves test pages; any path under a registered prefix gets that prefix's page."""

    port: int = field(default_factory=free_port)
    pages: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)  # prefix -> seconds before answering

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(
        self, prefix: str, html: str, headers: dict[str, str] | None = None, delay_s: float = 0
    ) -> str:
        self.pages[prefix] = (html, headers or {})
        self.delays[prefix] = delay_s
        return self.origin + prefix

    def start(self) -> ThreadingHTTPServer:
        pages, delays = self.pages, self.delays

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                match = max((p for p in pages if path.startswith(p)), key=len, default=None)
                if match is None:
                    self.send_error(404)
                    return
                html, headers = pages[match]
                time.sleep(delays[match])
                body = html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd


@dataclass
class Stack:
    collector: Server
    pages: PageServer

    def page_html(self, body: str, *, extra: str = "", site: str = "web", head: str = "") -> str:
        return f"""<!doctype html><html><head><meta charset="utf-8">
<link rel="icon" href="data:,">{head}
<script defer src="{self.collector.url}/beacon.js" data-site="{site}" data-allow-local {extra}></script>
</head><body>{body}</body></html>"""


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    pages = PageServer()
    root = tmp_path_factory.mktemp("browser")
    (root / "sites.toml").write_text(
        f"""[sites.web]
origins = ["{pages.origin}"]
redirect_hosts = ["example.com"]
query_allowlist = ["utm_source", "utm_medium", "utm_campaign"]

[sites.maps]
origins = ["{pages.origin}"]
heatmaps = true
vitals = true
heatmap_frame = true
k = 1
stats_token = "{MAPS_TOKEN}"

[sites.mapsoptin]
origins = ["{pages.origin}"]
heatmaps = true
vitals = true
default_consent = "denied"
require_opt_in = true
"""
    )
    # Up for the whole run, as deployed: the workers read the User-Agent rules as they start.
    collector = Server(root, {"CLEARCOUNT_TRUSTED_PROXIES": "0", "CLEARCOUNT_WARM_UP": "1"}).start()
    httpd = pages.start()
    try:
        yield Stack(collector, pages)
    finally:
        httpd.shutdown()
        httpd.server_close()
        collector.stop()


@dataclass
class Tab:
    context: BrowserContext
    page: Page
    errors: list[str]

    def cookies_and_errors_clean(self) -> None:
        assert self.page.evaluate("document.cookie") == ""
        assert self.context.cookies() == []
        assert self.errors == []


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context()
    # Outbound links go nowhere real: answer them locally.
    context.route(
        "https://example.com/**",
        lambda route: route.fulfill(body="<html>partner</html>", content_type="text/html"),
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield Tab(context, page, errors)
    context.close()
