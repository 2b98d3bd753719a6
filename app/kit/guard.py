"""The outer guard of every request, before anything answers (the fast paths included).

* Host: the `Host` header must name one of ALLOWED_HOSTS (Settings.allowed_host_names); anything else is a 400
  `invalid_host` before routing, so no page, redirect or link is ever built from a host an attacker chose.
* Redirects: a `Location` that points at the request's own origin is made relative (`/admin/`, not
  `http://host/admin/`), whatever produced it (Starlette's trailing-slash redirect builds absolute ones).
* Pages: every `text/html` answer carries the Content-Security-Policy and the other page headers, whoever
  rendered it (templates, error pages, the framework). /docs and /redoc get a policy of their own: they load
  Swagger UI / ReDoc from their CDN, and their inline scripts are allowed by hash.

The work per request is a dictionary lookup of the Host and one wrapped `send`; tests/security/test_net.py
measures it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import get_settings

# Headers every HTML page gets; the policy allows no inline script or style.
PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)
# The API documentation pages (served when API_DOCS_ENABLED): their scripts come from the CDN FastAPI uses,
# their own inline scripts are allowed by hash; Swagger UI and ReDoc insert styles at run time.
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
DOCS_CSP = (
    "default-src 'self'; script-src 'self' https://cdn.jsdelivr.net{hashes}; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' data: https://fonts.gstatic.com; img-src 'self' data: https:; worker-src 'self' blob:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)

# Host header: a name or IPv4 address, or a bracketed IPv6 address, with an optional port (Django's rule).
_HOST_HEADER = re.compile(rb"([a-z0-9.-]{1,253}|\[[a-f0-9]*:[a-f0-9.:]+\])(:[0-9]{1,5})?")
_ALLOWED_CACHE_MAX = 256


@lru_cache(maxsize=8)
def _host_rules(allowed: frozenset[str]) -> tuple[frozenset[str], tuple[str, ...], bool]:
    exact = frozenset(h for h in allowed if not h.startswith("."))
    suffixes = tuple(h for h in allowed if h.startswith("."))
    return exact, suffixes, "*" in allowed


def host_name(raw: bytes) -> str | None:
    """The host name of a Host header value (lower-case, no port, no brackets, no trailing dot), or None
    when the value is not a well-formed host (userinfo, spaces, non-ASCII, empty…)."""
    raw = raw.lower()
    match = _HOST_HEADER.fullmatch(raw)
    if match is None:
        return None
    name = match.group(1).decode("ascii")
    if name.startswith("["):
        return name[1:-1]
    name = name.removesuffix(".")
    if not name or name.startswith(".") or ".." in name:
        return None
    return name


def host_allowed(name: str | None) -> bool:
    if name is None:
        return False
    exact, suffixes, anything = _host_rules(get_settings().allowed_host_names)
    if anything or name in exact:
        return True
    return any(name == suffix[1:] or name.endswith(suffix) for suffix in suffixes)


def _host_header(scope: Scope) -> bytes | None:
    """The one Host header; None when it is missing or repeated."""
    found = None
    for name, value in scope["headers"]:
        if name == b"host":
            if found is not None:
                return None
            found = value
    return found


class HttpGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Host header value -> allowed, for the few hosts a shop really sees (refusals are not remembered,
        # so junk cannot fill it). Cleared when the settings' host list changes.
        self._known: dict[bytes, bool] = {}
        self._known_for: frozenset[str] | None = None

    def _allowed(self, raw: bytes | None) -> bool:
        if raw is None:
            return False
        allowed = get_settings().allowed_host_names
        if allowed is not self._known_for:
            self._known, self._known_for = {}, allowed
        if raw in self._known:
            return True
        ok = host_allowed(host_name(raw))
        if ok and len(self._known) < _ALLOWED_CACHE_MAX:
            self._known[raw] = True
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_host = _host_header(scope)
        if not self._allowed(raw_host):
            await _refuse_host(scope, receive, send)
            return
        docs_page = scope["path"] in DOCS_PATHS
        held: Message | None = None
        body_parts: list[bytes] = []

        async def guarded_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers") or []
                if 300 <= status < 400:
                    headers = _relative_location(headers, raw_host.lower())  # type: ignore[union-attr]
                if _is_html(headers):
                    if docs_page and not _has(headers, b"content-security-policy"):
                        held = {**message, "headers": headers}  # the policy needs the page's scripts
                        return
                    headers = _with_page_headers(headers, PAGE_CSP)
                message = (
                    {**message, "headers": headers} if headers is not message.get("headers") else message
                )
            elif held is not None and message["type"] == "http.response.body":
                body_parts.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(body_parts)
                hashes = "".join(
                    " 'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
                    for script in _INLINE_SCRIPT.findall(body)
                )
                start = {
                    **held,
                    "headers": _with_page_headers(held["headers"], DOCS_CSP.format(hashes=hashes)),
                }
                held = None
                await send(start)
                message = {"type": "http.response.body", "body": body}
            await send(message)

        await self.app(scope, receive, guarded_send)


def _has(headers: list[tuple[bytes, bytes]], name: bytes) -> bool:
    return any(key.lower() == name for key, _ in headers)


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    for key, value in headers:
        if key.lower() == b"content-type":
            return value[:9].lower() == b"text/html"
    return False


def _with_page_headers(headers: list[tuple[bytes, bytes]], csp: str) -> list[tuple[bytes, bytes]]:
    present = {key.lower() for key, _ in headers}
    added = list(headers)
    if b"content-security-policy" not in present:
        added.append((b"content-security-policy", csp.encode()))
    for name, value in PAGE_HEADERS.items():
        if name.lower().encode() not in present:
            added.append((name.lower().encode(), value.encode()))
    return added


def _relative_location(headers: list[tuple[bytes, bytes]], host: bytes) -> list[tuple[bytes, bytes]]:
    """A Location on the request's own origin, made relative (never `//…`, which is another host)."""
    origins = (b"http://" + host, b"https://" + host)
    result = []
    changed = False
    for key, value in headers:
        if key.lower() == b"location":
            lowered = value.lower()
            for origin in origins:
                if lowered.startswith(origin) and lowered[len(origin) : len(origin) + 1] in (b"", b"/", b"?"):
                    value = b"/" + value[len(origin) :].lstrip(b"/")
                    changed = True
                    break
        result.append((key, value))
    return result if changed else headers


async def _refuse_host(scope: Scope, receive: Receive, send: Send) -> None:
    from app.kit.problems import problem_response

    response = problem_response(
        400, "invalid_host", "Invalid host", "This shop does not answer to that host name."
    )
    await response(scope, receive, send)
