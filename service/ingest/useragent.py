"""User-Agent → browser, OS, device class and bot verdict, cached per UA string.

ua-parser names browsers and devices but flags no bots; crawlerdetect flags
bots but is not thread-safe, so each thread keeps its own instance. Mail
clients and mail image proxies (``mail_clients.py``) are recognised before
either: they are readers opening an e-mail, never bots.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import ua_parser
from crawlerdetect import CrawlerDetect

from service.ingest.event import DropReason
from service.ingest.mail_clients import mail_client

_local = threading.local()

_TABLET_HINTS = ("ipad", "tablet", "kindle", "silk", "playbook")
EMAIL_CLIENT = "email client"  # the device class of mail clients and their image proxies
_MOBILE_OS = ("ios", "android", "windows phone", "kaios", "blackberry os")


@dataclass(frozen=True, slots=True)
class UserAgentTraits:
    browser: str | None
    browser_version: str | None
    os: str | None
    device: str | None  # desktop | mobile | tablet | email client | None (unknown)
    bot_reason: DropReason | None


def _crawler_detect() -> CrawlerDetect:
    detector: CrawlerDetect | None = getattr(_local, "detector", None)
    if detector is None:
        detector = CrawlerDetect()
        _local.detector = detector
    return detector


@functools.lru_cache(maxsize=8192)
def _parse(user_agent: str) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    result = ua_parser.parse(user_agent)
    browser = result.user_agent.family if result.user_agent else None
    version = result.user_agent.major if result.user_agent else None
    os_family = result.os.family if result.os else None
    device_family = result.device.family if result.device else None
    brand = result.device.brand if result.device else None
    return browser, version, os_family, device_family, brand


def _device_class(
    user_agent: str, os_family: str | None, device_family: str | None, brand: str | None
) -> str | None:
    hints = f"{device_family or ''} {brand or ''}".lower()
    if any(h in hints for h in _TABLET_HINTS):
        return "tablet"
    if os_family and os_family.lower() in _MOBILE_OS:
        # Android tablets omit "Mobile" from their UA by convention.
        if os_family.lower() == "android" and "mobile" not in user_agent.lower():
            return "tablet"
        return "mobile"
    if os_family and os_family.lower() in ("windows", "mac os x", "linux", "chrome os", "ubuntu"):
        return "desktop"
    return None


@functools.lru_cache(maxsize=8192)
def _is_crawler(user_agent: str) -> bool:
    return bool(_crawler_detect().isCrawler(user_agent))


@functools.lru_cache(maxsize=8192)
def classify_user_agent(user_agent: str) -> UserAgentTraits:
    """Browser, OS, device class and, for automated clients, why they are quarantined."""
    if not user_agent.strip():
        return UserAgentTraits(None, None, None, None, DropReason.BOT)
    browser, version, os_family, device_family, brand = _parse(user_agent)
    client = mail_client(user_agent)
    if client is not None:
        # A mail client, or a mail provider's image proxy: a reader opening an e-mail.
        return UserAgentTraits(
            browser=client,
            browser_version=None,
            os=None if os_family == "Other" else os_family,
            device=EMAIL_CLIENT,
            bot_reason=None,
        )
    if (browser and "headless" in browser.lower()) or "headless" in user_agent.lower():
        bot: DropReason | None = DropReason.HEADLESS
    elif device_family == "Spider" or _is_crawler(user_agent):
        bot = DropReason.BOT
    else:
        bot = None
    return UserAgentTraits(
        browser=None if browser == "Other" else browser,
        browser_version=version,
        os=None if os_family == "Other" else os_family,
        device=_device_class(user_agent, os_family, device_family, brand),
        bot_reason=bot,
    )


def device_from_screen(width: int) -> str:
    """Fallback device class from the screen width, for User-Agents that say nothing."""
    if width < 576:
        return "mobile"
    if width < 992:
        return "tablet"
    return "desktop"
