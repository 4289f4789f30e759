"""User-Agent → browser, OS, device class and bot verdict, cached per UA string.

ua-parser names browsers and operating systems; ``bots.py`` says whether,
and why, a client is automated; ``devices.py`` says what class of device it
is. Mail clients and mail image proxies (``mail_clients.py``) are recognised
before either: they are readers opening an e-mail, never bots.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import ua_parser

from service.ingest.bots import bot_reason
from service.ingest.devices import device_class
from service.ingest.event import DropReason
from service.ingest.mail_clients import mail_client

EMAIL_CLIENT = "email client"  # the device class of mail clients and their image proxies


@dataclass(frozen=True, slots=True)
class UserAgentTraits:
    browser: str | None
    browser_version: str | None
    os: str | None
    device: str | None  # desktop | mobile | tablet | tv | console | email client | None
    bot_reason: DropReason | None


def _known(name: str | None) -> str | None:
    return None if name == "Other" else name


@functools.lru_cache(maxsize=16384)
def classify_user_agent(user_agent: str) -> UserAgentTraits:
    """Browser, OS, device class and, for automated clients, why they are quarantined."""
    result = ua_parser.parse(user_agent)
    browser = _known(result.user_agent.family) if result.user_agent else None
    version = result.user_agent.major if result.user_agent else None
    os_family = _known(result.os.family) if result.os else None
    client = mail_client(user_agent)
    if client is not None:
        # A mail client, or a mail provider's image proxy: a reader opening an e-mail.
        return UserAgentTraits(client, None, os_family, EMAIL_CLIENT, None)
    reason = bot_reason(user_agent)
    if reason is None and result.device and result.device.family == "Spider":
        reason = DropReason.BOT
    device = result.device
    return UserAgentTraits(
        browser=browser,
        browser_version=version,
        os=os_family,
        device=device_class(
            user_agent,
            os_family,
            device.family if device else None,
            device.brand if device else None,
        ),
        bot_reason=reason,
    )


def device_from_screen(width: int) -> str:
    """Fallback device class from the screen width, for User-Agents that say nothing."""
    if width < 576:
        return "mobile"
    if width < 992:
        return "tablet"
    return "desktop"


# A desktop browser, an Android phone and an HTTP library: between them they make
# device-detector read every rule file the classification uses.
WARM_UP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 9; SM-T510) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.230 Safari/537.36",
    "curl/8.5.0",
)


def warm_up() -> None:
    """Read device-detector's rule files now: it reads them on first use, about 2.5 s for
    its 2,000-brand device list, which would otherwise fall on a worker's first
    requests. Run once in gunicorn's master before it forks (``service/gunicorn_conf.py``),
    or in each worker where the master did not (``service/wsgi.py``)."""
    for user_agent in WARM_UP:
        classify_user_agent(user_agent)


def warmed_up() -> bool:
    """Whether this process has read the rule files, itself or in the master it was
    forked from (the classifications of ``WARM_UP`` are cached)."""
    return classify_user_agent.cache_info().currsize >= len(WARM_UP)
