"""User-Agents the public corpora showed misread: each kept in its class, with its reason.

Rows name the rule they hold: which list catches the client, or which list's
knowledge keeps a reader from being flagged.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from service.ingest.event import QUARANTINE_REASONS, DropReason
from service.ingest.useragent import WARM_UP, classify_user_agent, warm_up
from tests import patience, product

CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"


@pytest.mark.parametrize(
    ("ua", "reason"),
    [
        # AI crawlers, assistants and agents: device-detector's AI categories, or their names
        (
            "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
            DropReason.AI_AGENT,
        ),
        (
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; anthropic-ai; +https://www.anthropic.com)",
            DropReason.AI_AGENT,
        ),
        (
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; +https://perplexity.ai/perplexity-user)",
            DropReason.AI_AGENT,
        ),
        ("claude-code/1.0.3", DropReason.AI_AGENT),
        ("OpenAI/JS 4.20.1", DropReason.AI_AGENT),
        (
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
            DropReason.AI_AGENT,
        ),
        # Browser automation and HTTP libraries
        (f"{CHROME_LINUX} Playwright/1.40.0", DropReason.AUTOMATION),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36; Selenium",
            DropReason.AUTOMATION,
        ),
        ("Node.js/20.10.0", DropReason.AUTOMATION),
        ("node", DropReason.AUTOMATION),
        ("curl/8.5.0", DropReason.AUTOMATION),
        ("python-requests/2.32.3", DropReason.AUTOMATION),
        ("axios/1.6.0", DropReason.AUTOMATION),
        ("Go-http-client/1.1", DropReason.AUTOMATION),
        # Uptime and health checks
        ("Datadog Agent/7.45.0", DropReason.MONITOR),
        (
            "Amazon Route 53 Health Check Service; ref:c97cd53f-2272-49d6-a8cd-3cd658d9d020; report http://amzn.to/1vsZADi",
            DropReason.MONITOR,
        ),
        (
            "Cloudflare-Traffic-Manager/1.0 (+https://www.cloudflare.com/traffic-manager/; pool-id: 1)",
            DropReason.MONITOR,
        ),
        ("Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", DropReason.MONITOR),
        (
            "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
            DropReason.MONITOR,
        ),
        # Crawlers
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            DropReason.BOT,
        ),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", DropReason.BOT),
        (
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            DropReason.BOT,
        ),
        ("", DropReason.BOT),
        ("   ", DropReason.BOT),
        # Headless browsers, whatever else they say
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
            DropReason.HEADLESS,
        ),
    ],
)
def test_automated_clients_are_quarantined_with_their_reason(ua: str, reason: DropReason) -> None:
    assert classify_user_agent(ua).bot_reason is reason
    assert reason in QUARANTINE_REASONS


@pytest.mark.parametrize(
    "ua",
    [
        # Lynx names libwww, which generic rules read as a library
        "Lynx/2.8.9rel.1 libwww-FM/2.14 SSL-MM/1.4.1 GNUTLS/3.6.5",
        # desktop apps built on Chromium
        "Mozilla/5.0 (Windows NT 10.0.18362; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.4.2 Chrome/78.0.3904.130 Electron/7.2.1 Safari/537.36 WindowsStore/10.0.18362 Sonic Slack_SSB/4.4.2",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Code/1.115.0 Chrome/142.0.7444.265 Electron/39.8.5 Safari/537.36",
        # Office apps opening a link
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Word 16.0.17029; Pro)",
        "Microsoft Office Excel 2014",
        # generic patterns that device-detector's browser list overrules
        "Mozilla/5.0 (Windows; U; Windows NT 5.1; cs-CZ) AppleWebKit/532.4 (KHTML, like Gecko) Google Earth/5.2.1.1329 Safari/532.4",
        "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; WOW64; Trident/5.0; chromeframe/19.0.1084.52)",
        # everyday browsers
        CHROME_LINUX,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    ],
)
def test_people_are_not_flagged(ua: str) -> None:
    assert classify_user_agent(ua).bot_reason is None


@pytest.mark.parametrize(
    ("ua", "device"),
    [
        # Android tablets whose UA says "Mobile" (device-detector's model data)
        (
            "Mozilla/5.0 (Linux; U; Android 4.2.2; ru-ru; CRONY-7021 Build/JDQ39) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
            "tablet",
        ),
        (
            "Mozilla/5.0 (Linux; Android 9; SM-T510) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.230 Safari/537.36",
            "tablet",
        ),
        # Android phones without "Mobile"
        (
            "Mozilla/5.0 (Linux; U; Android 2.3.5; en-us; HTC Vision Build/GRI40) AppleWebKit/533.1 (KHTML, like Gecko) Version/4.0 Safari/533.1",
            "mobile",
        ),
        # Reduced Chrome UAs: "Mobile" decides
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "tablet",
        ),
        # Chromebooks, Linux distributions and BSDs are desktops
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "desktop",
        ),
        (
            "Mozilla/5.0 (X11; U; Linux i686; en-US; rv:1.9.0.8) Gecko Fedora/1.9.0.8-1.fc10 Kazehakase/0.5.6",
            "desktop",
        ),
        ("Mozilla/5.0 (X11; FreeBSD amd64; rv:25.0) Gecko/20100101 Firefox/25.0", "desktop"),
        (
            "Mozilla/5.0 (X11; OpenBSD amd64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/28.0.1500.45 Safari/537.36",
            "desktop",
        ),
        (
            "Mozilla/5.0 (X11; U; Linux i686; es-ES; rv:2.0) Gecko/20100101 Linux Mint 16/Petra Firefox/25.0.1.",
            "desktop",
        ),
        (CHROME_LINUX, "desktop"),
        # Apple
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            "mobile",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            "tablet",
        ),
    ],
)
def test_device_classes(ua: str, device: str) -> None:
    traits = classify_user_agent(ua)
    assert (traits.device, traits.bot_reason) == (device, None)


def test_the_warm_up_touches_the_browser_device_and_library_rules() -> None:
    # a desktop browser, an Android tablet (device models) and an HTTP library
    warm_up()
    assert [(t.device, t.bot_reason) for t in map(classify_user_agent, WARM_UP)] == [
        ("desktop", None),
        ("tablet", None),
        (None, DropReason.AUTOMATION),
    ]


# In a process of its own: this one may have classified the warm-up's User-Agents already.
# The master must not import DuckDB (see PRELOADED in service/gunicorn_conf.py).
FORKED_FROM_THE_MASTER = """
import os, sys
from service import gunicorn_conf
from service.ingest.useragent import warmed_up

before = warmed_up()
gunicorn_conf.on_starting(None)
pid = os.fork()
if pid == 0:  # a worker, as gunicorn forks it
    os._exit(0 if warmed_up() else 3)
_, status = os.waitpid(pid, 0)
print(before, os.waitstatus_to_exitcode(status), "duckdb" in sys.modules)
"""


@pytest.mark.parametrize(("warm", "expected"), [("1", "False 0 False"), ("0", "False 3 False")])
def test_workers_forked_from_the_master_start_with_the_rules_read(
    warm: str, expected: str, tmp_path: Path
) -> None:
    env = {**os.environ, "CLEARCOUNT_WARM_UP": warm, "CLEARCOUNT_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [product.python(), "-c", FORKED_FROM_THE_MASTER],
        cwd=Path(__file__).parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=patience.COMMAND_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == expected
