"""Where an API-token connection may send the admin's credentials.

The site URL is typed by an admin and the check call carries their Basic credentials, so
an unchecked URL would let anyone who can run /jira connect make this server call its own
network (an admin console on localhost, a cloud metadata address) and read the answers
from the errors. A site must be https, without a user name or password, and its host must
resolve only to public addresses, unless the operator trusts it (JIRA_TRUSTED_HOSTS).

The address checked is the address called: the request connects to that IP while TLS and
the Host header still name the site, so DNS cannot answer differently in between.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot import messages

REFUSED = "Enter your Jira Cloud site's public address, for example https://your-team.atlassian.net"


class SiteRefused(Exception):
    """The site URL may not be called; the message is for the admin."""

    def __init__(self, message: str = REFUSED) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class VettedSite:
    url: str
    address: str  # the IP to connect to


def trusted(hosts: frozenset[str], hostname: str, port: int | None) -> bool:
    host = hostname.lower().strip("[]")
    named = {host, f"{host}:{port or 443}"}
    if ":" in host:  # IPv6: written [::1] or [::1]:8443 in the setting
        named |= {f"[{host}]", f"[{host}]:{port or 443}"}
    return bool(named & hosts)


def public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


async def vet_site(url: str, trusted_hosts: frozenset[str]) -> VettedSite:
    """The site as it may be called, or SiteRefused (nothing is sent anywhere)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or "@" in parts.netloc:
        raise SiteRefused
    try:
        port = parts.port
    except ValueError:
        raise SiteRefused from None
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port or 443, type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError):
        raise SiteRefused(messages.no_site_at(url)) from None
    addresses = [info[4][0] for info in found]
    if not addresses:
        raise SiteRefused
    if not trusted(trusted_hosts, parts.hostname, port) and not all(map(public, addresses)):
        raise SiteRefused
    return VettedSite(url, addresses[0])
