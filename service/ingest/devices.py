"""Device class (desktop, mobile, tablet, tv, console) of a browser's User-Agent.

Whether an Android device is a phone, a tablet or a TV box depends on its
model far more than on what the UA says: tablets that send ``Mobile``, phones
that leave it out. Matomo device-detector keeps that knowledge (``mobiles.yml``,
2,000 brands with their models' types); the ``device-detector`` package reads
it, at 5 to 15 ms for one Android User-Agent, so it runs once per distinct
Android User-Agent (the caller caches) and for nothing else. Desktops and
Apple devices are told apart from the OS that ua-parser already found, using
device-detector's list of desktop operating systems, which names every Linux
distribution and BSD it knows.
"""

from __future__ import annotations

from typing import Final

from device_detector.enums import DeviceType
from device_detector.parser.device.device import Device
from device_detector.parser.operating_system import OS
from device_detector.parser.settings import DESKTOP_OS, OS_FAMILIES, OS_TO_ABBREV

# device-detector's device types → the ``device`` column's classes. Types not listed
# (car browsers, peripherals, smart speakers, unknown) leave the class unknown.
_CLASS_OF_TYPE: Final = {
    DeviceType.Desktop: "desktop",
    DeviceType.Smartphone: "mobile",
    DeviceType.Phablet: "mobile",
    DeviceType.FeaturePhone: "mobile",
    DeviceType.Wearable: "mobile",
    DeviceType.Camera: "mobile",
    DeviceType.PortableMediaPlayer: "mobile",
    DeviceType.Tablet: "tablet",
    DeviceType.TV: "tv",
    DeviceType.SmartDisplay: "tv",
    DeviceType.Console: "console",
}
_TABLET_HINTS: Final = ("ipad", "tablet", "kindle", "playbook")


def _families() -> dict[str, str]:
    """ua-parser's OS family (lower case) → device-detector's OS family."""
    family_of_abbrev = {
        abbrev: family for family, abbrevs in OS_FAMILIES.items() for abbrev in abbrevs
    }
    families = {name: family_of_abbrev.get(abbrev, name) for name, abbrev in OS_TO_ABBREV.items()}
    # ua-parser's names for what device-detector calls GNU/Linux and Mac
    families |= {"linux": "GNU/Linux", "mac os x": "Mac"}
    return families


_FAMILY: Final = _families()
_MOBILE_FAMILIES: Final = frozenset(
    {"iOS", "Windows Mobile", "BlackBerry", "Symbian", "Firefox OS", "Other Mobile", "Java ME"}
)


def os_family(ua_parser_os: str | None) -> str | None:
    """device-detector's family of the OS ua-parser named: ``Debian`` → ``GNU/Linux``."""
    return _FAMILY.get(ua_parser_os.lower()) if ua_parser_os else None


def _android_class(user_agent: str) -> str | None:
    os_details = OS(user_agent, None).parse().ua_data
    device_type = Device(user_agent, None, os_details=os_details).parse().ua_data.get("type")
    if not device_type and os_details.get("family") in DESKTOP_OS:
        return "desktop"  # an Android app's UA on a Chromebook
    return _CLASS_OF_TYPE.get(device_type) if device_type else None


def device_class(
    user_agent: str, ua_os: str | None, device_family: str | None, brand: str | None
) -> str | None:
    """The class of the device behind a browser's User-Agent, None when it says nothing."""
    family = os_family(ua_os)
    if family is None and ua_os:
        # An OS ua-parser names differently (Linux Mint, Haiku): device-detector's name.
        family = OS(user_agent, None).parse().ua_data.get("family")
    if family == "Android":
        return _android_class(user_agent)
    hints = f"{device_family or ''} {brand or ''}".lower()
    if any(hint in hints for hint in _TABLET_HINTS):
        return "tablet"
    if family in DESKTOP_OS:
        return "desktop"
    if family in _MOBILE_FAMILIES:
        return "mobile"
    return None
