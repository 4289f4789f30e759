"""IP address rules. Each removes host bits; none of them touches disk."""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str) -> IPAddress | None:
    """The client address, with IPv4-mapped IPv6 unwrapped; None when unparseable."""
    try:
        ip = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def truncate_ipv4_to_24(ip: ipaddress.IPv4Address) -> str:
    """Remove the last octet: ``198.51.100.7`` → ``198.51.100.0/24``."""
    return str(ip).rsplit(".", 1)[0] + ".0/24"


def truncate_ipv6_to_48(ip: ipaddress.IPv6Address) -> str:
    """Keep the routing prefix only: ``2001:db8:85a3:8d3::1`` → ``2001:db8:85a3::/48``."""
    return str(ipaddress.IPv6Network((ip, 48), strict=False))


def ip_prefix(ip: IPAddress) -> str:
    """The network a granted visitor is stored under (IPv4 /24, IPv6 /48)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return truncate_ipv4_to_24(ip)
    return truncate_ipv6_to_48(ip)


def client_network(ip: IPAddress, ipv6_prefix: int = 64) -> str:
    """One client's network: the IPv4 address, or the IPv6 network of ``ipv6_prefix``.

    Privacy extensions rotate the low 64 bits of IPv6 addresses several times a
    day within the /64 a subscriber is handed, so keying on the full address
    would split one client into many.
    """
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    return str(ipaddress.IPv6Network((ip, ipv6_prefix), strict=False))


def hashing_identity(ip: IPAddress) -> str:
    """What the daily hash sees: the IPv4 address, or the IPv6 /64."""
    return client_network(ip, 64)
