"""Who is on the other end of a request: the one place that decides the client address and https-ness.

The client address is the TCP peer's. `X-Forwarded-For` and `X-Forwarded-Proto` count only with
TRUST_FORWARDED_FOR=true, and then only when the peer is one of the proxies in FORWARDED_ALLOW_IPS (addresses
or networks, comma-separated; `*` trusts every peer). Behind a chain of proxies the client is the right-most
`X-Forwarded-For` entry that is not itself a trusted proxy (what uvicorn's ProxyHeadersMiddleware does):
everything left of it was written by the client and proves nothing. `X-Real-IP`, `Forwarded` and
`X-Forwarded-Host` are never believed. `daoxiang serve` starts uvicorn without its own proxy-header handling
so that this is the only judge. Every per-address limit and every access log line uses `client_address`.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import HTTPConnection
from starlette.types import Scope

from app.config import get_settings

UNKNOWN = "unknown"
_SCOPE_KEY = "daoxiang.client_address"
_MAX_HOPS = 32  # a forwarded chain longer than this is not a real one: only its right end is read

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def trusted_networks(spec: str) -> tuple[IPNetwork, ...] | None:
    """FORWARDED_ALLOW_IPS parsed; None means every peer (`*`). Bad entries are refused by the settings."""
    networks = []
    for item in spec.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        if item == "*":
            return None
        networks.append(ipaddress.ip_network(item, strict=False))
    return tuple(networks)


def parse_ip(text: str) -> IPAddress | None:
    """An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]`, `[::1]:5678`."""
    text = text.strip()
    if not text or len(text) > 64:
        return None
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress | None, networks: tuple[IPNetwork, ...] | None) -> bool:
    if address is None:
        return False
    if networks is None:
        return True
    return any(address in network for network in networks)


def _header_values(scope: Scope, name: bytes) -> list[str]:
    """Every value of a header, in order, split at commas (repeated headers count as one list)."""
    values: list[str] = []
    for key, value in scope["headers"]:
        if key == name:
            values.extend(value.decode("latin-1").split(","))
    return values


def _peer(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def _trusted_peer(scope: Scope) -> bool:
    settings = get_settings()
    if not settings.trust_forwarded_for:
        return False
    peer = _peer(scope)
    return peer is not None and _is_trusted(parse_ip(peer), trusted_networks(settings.forwarded_allow_ips))


def client_address_of(scope: Scope) -> str:
    """The client address of an ASGI request (see the module docstring); computed once per request."""
    cached = scope.get(_SCOPE_KEY)
    if cached is not None:
        return cached
    address = _decide(scope)
    scope[_SCOPE_KEY] = address
    return address


def _decide(scope: Scope) -> str:
    peer = _peer(scope)
    peer_ip = parse_ip(peer) if peer else None
    fallback = str(peer_ip) if peer_ip is not None else (peer[:64] if peer else UNKNOWN)
    if not _trusted_peer(scope):
        return fallback
    networks = trusted_networks(get_settings().forwarded_allow_ips)
    hops = [hop.strip() for hop in _header_values(scope, b"x-forwarded-for")]
    hops = [hop for hop in hops if hop][-_MAX_HOPS:]
    if not hops:
        return fallback
    for hop in reversed(hops):
        address = parse_ip(hop)
        if address is None:
            # Our proxy wrote something that is not an address where the client's should be: the proxy
            # is the best we know.
            return fallback
        if not _is_trusted(address, networks):
            return str(address)
    # Every hop is a trusted proxy: the left-most is where the request started.
    first = parse_ip(hops[0])
    return str(first) if first is not None else fallback


def client_address(conn: HTTPConnection) -> str:
    """The client address of a request (route dependency, page, middleware)."""
    return client_address_of(conn.scope)


def is_https_scope(scope: Scope) -> bool:
    """Did the client reach us over https? Our own scheme, or a trusted proxy's `X-Forwarded-Proto`."""
    if _trusted_peer(scope):
        protos = [p.strip().lower() for p in _header_values(scope, b"x-forwarded-proto") if p.strip()]
        if protos:
            return protos[-1] in ("https", "wss")
    return scope.get("scheme") in ("https", "wss")


def is_https(conn: HTTPConnection) -> bool:
    return is_https_scope(conn.scope)
