"""SSRF protection: a webhook URL is resolved and every address it resolves to must be public, at creation
and again before each attempt (DNS rebinding: a name that was public at creation may point inside later).
The attempt then connects to the address that was checked (pinned), never resolving the name a second time,
and follows no redirect. WEBHOOK_ALLOW_PRIVATE=true lifts the address check (a local receiver, tests).

Spellings such as `2130706433`, `0177.0.0.1`, `0x7f.1` or `[::ffff:127.0.0.1]` need no special parsing here:
the system resolver turns them into the address they denote, and the address is what is checked. IPv6
addresses that carry an IPv4 one (IPv4-mapped, IPv4-compatible, 6to4, NAT64, Teredo) are checked as that
IPv4 address too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.config import get_settings
from app.webhooks.errors import WebhookUrlRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT_SECONDS = 3.0
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


@dataclass(frozen=True)
class Target:
    """Where one attempt goes: the URL's parts and the checked address to connect to."""

    scheme: str
    host: str  # as written in the URL (the Host header and, for https, the TLS server name)
    port: int
    path: str  # path and query, at least "/"
    address: IPAddress

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def pinned_url(self) -> str:
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{literal}:{self.port}{self.path}"


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=RESOLVE_TIMEOUT_SECONDS
    )
    return [str(info[4][0]) for info in infos]


# Replaced in tests to play a DNS server that changes its answer (rebinding).
resolver: Resolver = system_resolve


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64 or address in NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # IPv4-compatible ::a.b.c.d (deprecated)
        return ipaddress.IPv4Address(int(address))
    return None


def is_public(address: IPAddress) -> bool:
    """Only globally routable unicast: not private, loopback, link-local, shared (CGNAT), multicast, reserved,
    unspecified, documentation or benchmarking space."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None and not is_public(inner):
            return False
        if address in NAT64_LOCAL:
            return False
    return not (
        not address.is_global
        or address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an http(s) URL, or WebhookUrlRefused."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlRefused("The URL cannot be parsed.", reason="malformed") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookUrlRefused("Only http and https URLs are accepted.", reason="scheme")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlRefused("Credentials in the URL are not accepted.", reason="credentials")
    host = parts.hostname or ""
    if not host or any(ch.isspace() for ch in url):
        raise WebhookUrlRefused("The URL has no host.", reason="malformed")
    if port == 0:
        raise WebhookUrlRefused("The URL's port is not valid.", reason="malformed")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port or (443 if scheme == "https" else 80), path


async def check(url: str) -> Target:
    """Resolve the URL's host now and refuse it unless every address is public (or WEBHOOK_ALLOW_PRIVATE)."""
    scheme, host, port, path = parse(url)
    try:
        answers = await resolver(host, port)
    except (OSError, UnicodeError, TimeoutError) as exc:
        raise WebhookUrlRefused(f"The host {host} cannot be resolved.", reason="unresolvable") from exc
    addresses: list[IPAddress] = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(answer.split("%", 1)[0]))
        except ValueError:
            continue
    if not addresses:
        raise WebhookUrlRefused(f"The host {host} cannot be resolved.", reason="unresolvable")
    if not get_settings().webhook_allow_private:
        refused = [a for a in addresses if not is_public(a)]
        if refused:
            raise WebhookUrlRefused(
                f"The host {host} resolves to a non-public address ({refused[0]}).", reason="private_address"
            )
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])
