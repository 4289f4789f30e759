"""What behaviour maps and web vitals cost a page: script sizes and the hover grid on the wire.

1. Sizes, as served (gzipped): the base beacon against its 1,600-byte budget, and the second
   script a site with heatmaps, vitals or both gets, each as a ratio to the base beacon.
2. A one-minute scripted session in headless Chromium (Debian's) on a long page: the cursor
   wanders (a seeded random walk, a move every 16 ms or as fast as the browser takes
   them, pauses to read, the page scrolled as it goes down), then the page is hidden. The engagement event it sends is measured: its hover
   grid as JSON (the target is under 2 KB) and the whole request body.

The scripts are served from this process (the collector's own assets, as they would be
served) and the events are caught in the browser, so nothing but the browser's work is
measured. ``--seconds`` shortens the session (for a quick look).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

from playwright.sync_api import Route, sync_playwright

from benchmarks.common import machine, write_section
from service.http.beacon import beacon_asset
from service.http.behaviour import behaviour_asset

BUDGET = 1600
GRID_TARGET = 2048
ORIGIN = "https://shop.example"
COLLECTOR = "https://collector.example"
PAGE = f"""<!doctype html><html><head><meta charset="utf-8">
<script defer src="{COLLECTOR}/beacon.js" data-site="shop"></script>
<style>body{{margin:0}} section{{height:600px;border-bottom:1px solid #ccc}}</style>
</head><body>{"<section><h2>Section</h2><p>text</p><button>Go</button></section>" * 10}
</body></html>"""
CHROMIUM = "/usr/bin/chromium"
DESKTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)


def sizes() -> dict[str, int]:
    return {
        "base beacon": len(beacon_asset().gzipped),
        "second script, heatmaps": len(behaviour_asset(True, False, "implied", False).gzipped),
        "second script, vitals": len(behaviour_asset(False, True, "implied", False).gzipped),
        "second script, both": len(behaviour_asset(True, True, "implied", False).gzipped),
        "second script, neither": len(behaviour_asset(False, False, "implied", False).gzipped),
    }


def session(seconds: float, seed: int) -> dict[str, Any]:
    """The engagement event of a scripted session, and how many moves it made."""
    sent: list[dict[str, Any]] = []
    script = behaviour_asset(True, True, "implied", False).body

    def handle(route: Route) -> None:
        url = route.request.url
        if url.startswith(f"{COLLECTOR}/beacon.js"):
            route.fulfill(body=beacon_asset().body, content_type="text/javascript")
        elif url.startswith(f"{COLLECTOR}/api/behaviour.js"):
            route.fulfill(body=script, content_type="text/javascript")
        elif url.startswith(f"{COLLECTOR}/api/event"):
            body = json.loads(route.request.post_data or "[]")
            sent.extend(body if isinstance(body, list) else [body])
            route.fulfill(
                status=202,
                body="{}",
                headers={"Access-Control-Allow-Origin": ORIGIN},
                content_type="application/json",
            )
        elif url.startswith(ORIGIN):
            route.fulfill(body=PAGE, content_type="text/html")
        else:
            route.abort()

    rng = random.Random(seed)
    moves = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless=new", "--no-sandbox", f"--user-agent={DESKTOP_UA}"],
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.route("**/*", handle)
            page = context.new_page()
            page.goto(f"{ORIGIN}/article")
            page.wait_for_load_state("networkidle")
            x, y, top = 640.0, 300.0, 0
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                if rng.random() < 0.02:  # stop to read
                    page.wait_for_timeout(rng.randint(300, 1500))
                    continue
                x = min(1270.0, max(5.0, x + rng.gauss(0, 25)))
                y = min(790.0, max(5.0, y + rng.gauss(2, 20)))
                if y > 700 and top < 5200:  # near the bottom: read on
                    top += 200
                    page.mouse.wheel(0, 200)
                    y -= 150
                page.mouse.move(x, y)
                moves += 1
                page.wait_for_timeout(16)
            page.evaluate(
                """() => {
                  Object.defineProperty(document, 'hidden', {value: true, configurable: true});
                  Object.defineProperty(document, 'visibilityState', {value: 'hidden'});
                  document.dispatchEvent(new Event('visibilitychange'));
                }"""
            )
            page.wait_for_timeout(500)
        finally:
            browser.close()
    (engagement,) = [e for e in sent if e["type"] == "engagement"]
    return {"event": engagement, "moves": moves}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    measured = sizes()
    base = measured["base beacon"]
    result = session(args.seconds, args.seed)
    event = result["event"]
    grid = json.dumps(event.get("hover", []), separators=(",", ":"))
    body = json.dumps([event], separators=(",", ":"))
    size_rows = "\n".join(
        f"| {name} | {size:,} | {size / base:.2f}x |" for name, size in measured.items()
    )
    text = f"""## Behaviour maps and web vitals (`benchmarks/behaviour.py`, run by `make bench`)

Measured {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} on {machine()}. Sizes are the
scripts as served, gzipped; the base beacon is the baseline of the ratios (the second script
loads after the page, and only unless the visitor opted out).

| script | bytes gzipped | / base beacon |
| --- | ---: | ---: |
{size_rows}

A {args.seconds:.0f}-second scripted session in headless Chromium (a seeded random walk of the
cursor, {result["moves"]:,} moves, pauses to read, the page scrolled as the cursor went down),
then the page hidden; the engagement event it sent:

| figure | value | target | verdict |
| --- | ---: | ---: | --- |
| base beacon, gzipped | {base:,} B | <= {BUDGET:,} B | {"meets" if base <= BUDGET else "**misses**"} |
| hover grid, JSON | {len(grid):,} B ({len(event.get("hover", []))} cells) | < {GRID_TARGET:,} B | {"meets" if len(grid) < GRID_TARGET else "**misses**"} |
| whole engagement request body | {len(body):,} B | | |
| web vitals sent | {", ".join(sorted(event.get("vitals", {}))) or "none"} | | |
"""
    write_section("behaviour", text)
    print(text)


if __name__ == "__main__":
    main()
