"""Automated clients by their User-Agent, and why each is quarantined.

Detection uses data other projects maintain, in this order, first verdict wins:

1. ``headless`` in the User-Agent: a headless browser (HeadlessChrome and
   friends), whatever else it claims to be.
2. Matomo device-detector's bot list (``bots.yml``, 840+ rules, through the
   ``device-detector`` package): its category says what the bot is, so AI
   crawlers and assistants become ``ai_agent``, uptime and health checks
   ``monitor``, everything else ``bot``.
3. device-detector's HTTP-library list (curl, python-requests, axios, Go's
   client…): ``automation``.
4. isbot's pattern list (``service/data/isbot_patterns.json``, the npm
   package's own ``src/patterns.json``): the generic shapes of crawler,
   library and tool User-Agents that no named list keeps up with.
5. ua-parser's ``Spider`` device.

The lists disagree at the edges, so the order matters: device-detector's
named bots give the most precise reason, and isbot's generic patterns, which
catch the most, come after every named rule. A generic pattern alone does
not outvote device-detector's lists of browsers and apps: a UA they name,
with no bot, crawler, automation, AI or monitor name in it, is a person's
(isbot's ``server`` in "AlphaServer", ``google`` in "Google Earth", a bare
"Microsoft Office Excel 2014"). Lists flag what we count as
readers (Lynx's ``libwww``, desktop apps), so crawlerdetect, whose generic
rules flag those, is not one of them. Mail clients and their image proxies are
recognised before any of this (``mail_clients.py``).

isbot's patterns say only "a bot"; ``_AUTOMATION_NAMES``, ``_AI_NAMES`` and
``_MONITOR_NAMES`` below give the reason for what they catch. They decide the
reason, never the verdict.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Final

import regex
from device_detector.parser.client.browser import Browser
from device_detector.parser.client.desktopapp import DesktopApp
from device_detector.parser.client.library import Library
from device_detector.parser.client.mediaplayer import MediaPlayer
from device_detector.parser.client.mobileapp import MobileApp
from device_detector.parser.device.bot import Bot

from service.ingest.event import DropReason

# device-detector's bot categories → reason. Anything not listed is a "bot".
_CATEGORY_REASONS: Final = {
    "AI Agent": DropReason.AI_AGENT,
    "AI Assistant": DropReason.AI_AGENT,
    "AI Data Scraper": DropReason.AI_AGENT,
    "AI Search Crawler": DropReason.AI_AGENT,
    "Site Monitor": DropReason.MONITOR,
    "Network Monitor": DropReason.MONITOR,
    "Benchmark": DropReason.MONITOR,
}
# Reasons for what the generic lists catch, by the tool's name in the User-Agent.
_AUTOMATION_NAMES: Final = regex.compile(
    r"playwright|puppeteer|selenium|webdriver|phantomjs|slimerjs|cypress|htmlunit|nightmare"
    r"|\bnode(?:\.js)?\b|^python|^curl|^wget|^java/|^go-http|^okhttp|^axios|^undici",
    regex.IGNORECASE,
)
_AI_NAMES: Final = regex.compile(
    r"claude|anthropic|openai|chatgpt|gptbot|perplexity|cohere|gemini|mistral|bytespider"
    r"|ai2bot|diffbot|youbot|cursor/|copilot|\bai\b|-ai\b|\bllm",
    regex.IGNORECASE,
)
# Words that make a generic match count even in a UA that names a known browser.
_BOT_WORDS: Final = regex.compile(r"bot|crawl|spider|scrap|fetch", regex.IGNORECASE)
_MONITOR_NAMES: Final = regex.compile(
    r"monitor|uptime|health ?check|pingdom|statuscake|status ?page|synthetic|heartbeat",
    regex.IGNORECASE,
)


def _isbot_pattern() -> regex.Pattern[str]:
    """isbot's list joined as isbot joins it (JavaScript ``i`` flag, so ASCII classes)."""
    text = (resources.files("service") / "data" / "isbot_patterns.json").read_text("utf-8")
    patterns: list[str] = json.loads(text)
    return regex.compile("|".join(patterns), regex.IGNORECASE | regex.ASCII)


# Compiled once per process, at import, so that no request pays for it.
_ISBOT: Final = _isbot_pattern()


def _named_reason(user_agent: str) -> DropReason:
    """The reason for a client a generic rule caught, from the names it carries."""
    if _AI_NAMES.search(user_agent):
        return DropReason.AI_AGENT
    if _MONITOR_NAMES.search(user_agent):
        return DropReason.MONITOR
    if _AUTOMATION_NAMES.search(user_agent):
        return DropReason.AUTOMATION
    return DropReason.BOT


def _device_detector_bot(user_agent: str) -> DropReason | None:
    data = Bot(user_agent, None).parse().ua_data
    if not data:
        return None
    category = str(data.get("category") or "")
    name = str(data.get("name") or "")
    if category in _CATEGORY_REASONS:
        return _CATEGORY_REASONS[category]
    # Other categories ("Service Agent", "Crawler", generic UAs such as "node") say
    # less than the name: Route 53's health checks are a monitor, "node" automation.
    return _named_reason(f"{name} {user_agent}")


@functools.lru_cache(maxsize=16384)
def bot_reason(user_agent: str) -> DropReason | None:
    """Why this User-Agent's events are quarantined, or None for a person's browser.

    Cached per distinct User-Agent: device-detector's bot list costs about 0.1 ms for
    a browser and up to 2 ms for a bot, its browser and app lists (consulted only
    when a generic pattern alone matched) up to 6 ms, once.
    """
    if not user_agent.strip():
        return DropReason.BOT
    if "headless" in user_agent.lower():
        return DropReason.HEADLESS
    if reason := _device_detector_bot(user_agent):
        return reason
    if Library(user_agent, None).parse().ua_data:
        return DropReason.AUTOMATION
    if not _ISBOT.search(user_agent):
        return None
    reason = _named_reason(user_agent)
    if reason is DropReason.BOT and not _BOT_WORDS.search(user_agent) and _known_client(user_agent):
        return None  # only a generic pattern said "bot", and device-detector knows better
    return reason


def _known_client(user_agent: str) -> bool:
    """Whether device-detector names this UA's browser or app (desktop, mobile, player)."""
    return any(parser(user_agent, None).parse().ua_data for parser in _PEOPLES_CLIENTS)


_PEOPLES_CLIENTS: Final = (DesktopApp, MediaPlayer, MobileApp, Browser)  # cheapest first
