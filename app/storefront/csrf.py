"""CSRF protection for every page form.

Each visitor gets a random `dx_csrf` cookie (HttpOnly, SameSite=Lax). A form carries
`csrf_token = HMAC(SECRET_KEY, cookie + the login session)`: the token is bound to the session cookie too, so
a CSRF cookie planted in a victim's browser, a token from another login, or the token of an anonymous
visit are all worthless with the victim's session. A page request that changes something
(POST/PUT/PATCH/DELETE outside `/api/`) is refused with 403 before any route runs when its token does not
match, or when it says it comes from another site: its `Origin` (or, without one, its `Referer`) must be
the shop's own origin (PUBLIC_BASE_URL, or the allowed host it was sent to). The API is not covered: it
authenticates with a Bearer header, which a browser never sends on its own.
The cookie is replaced at login and logout, so a token seen before cannot be used after.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import get_settings
from app.kit.client import is_https

COOKIE_NAME = "dx_csrf"
SESSION_COOKIE = "dx_session"  # app.storefront.session.COOKIE_NAME (that module imports this one)
FORM_FIELD = "csrf_token"
HEADER_NAME = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_COOKIE_LEN = 43  # secrets.token_urlsafe(32)
# Paths whose unsafe requests are not page forms (bearer-token API, machine callbacks).
EXEMPT_PREFIXES = ("/api/",)


def _valid_cookie_value(value: str | None) -> bool:
    return bool(value) and len(value) == _COOKIE_LEN and value.replace("-", "").replace("_", "").isalnum()


def sign(cookie_value: str, session_value: str = "") -> str:
    key = get_settings().secret_key.encode()
    session_id = hashlib.sha256(session_value.encode()).hexdigest() if session_value else ""
    return hmac.new(key, f"csrf|{cookie_value}|{session_id}".encode(), hashlib.sha256).hexdigest()


def _session_value(conn: HTTPConnection) -> str:
    """The login session the token is bound to: the one started or ended on this response, or the cookie."""
    pending = getattr(conn.state, "csrf_session", None)
    if pending is not None:
        return pending
    return _valid_session(conn.cookies.get(SESSION_COOKIE))


def _valid_session(value: str | None) -> str:
    # As app.storefront.session reads it: a longer value is no session.
    return value if value and len(value) <= 200 else ""


def _cookie_value(conn: HTTPConnection) -> str:
    """The visitor's CSRF cookie value, or a new one (remembered on the request until the response)."""
    fresh = getattr(conn.state, "new_csrf_cookie", None)
    if fresh:
        return fresh
    value = conn.cookies.get(COOKIE_NAME)
    if _valid_cookie_value(value):
        return value  # type: ignore[return-value]
    value = secrets.token_urlsafe(32)
    conn.state.new_csrf_cookie = value
    return value


def token_for(conn: HTTPConnection) -> str:
    return sign(_cookie_value(conn), _session_value(conn))


def rotate(conn: HTTPConnection, session_value: str | None = None) -> None:
    """Start a new CSRF cookie (at login/logout), bound to the session that starts (None: no session);
    `ensure_cookie` puts it on the response."""
    conn.state.new_csrf_cookie = secrets.token_urlsafe(32)
    conn.state.csrf_session = _valid_session(session_value)


def is_secure(conn: HTTPConnection) -> bool:
    return is_https(conn) or get_settings().public_base_url.startswith("https://")


def ensure_cookie(conn: HTTPConnection, response: Response) -> None:
    fresh = getattr(conn.state, "new_csrf_cookie", None)
    if fresh:
        response.set_cookie(
            COOKIE_NAME, fresh, httponly=True, samesite="lax", secure=is_secure(conn), path="/"
        )


def token_matches(cookie_value: str | None, token: str | None, session_value: str | None = None) -> bool:
    if not _valid_cookie_value(cookie_value) or not token or not token.isascii():
        return False
    expected = sign(cookie_value, _valid_session(session_value))  # type: ignore[arg-type]
    return hmac.compare_digest(expected, token)


def _origin_key(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or URL, default ports filled in; None when it is not http(s)."""
    try:
        parts = urlsplit(url.strip())
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return None
    if scheme not in ("http", "https") or not host:
        return None
    return scheme, host.lower().removesuffix("."), port or (443 if scheme == "https" else 80)


def own_origins(conn: HTTPConnection) -> set[tuple[str, str, int]]:
    """The shop's origin (PUBLIC_BASE_URL) and the one this request was sent to (its Host was checked)."""
    origins = {_origin_key(get_settings().public_base_url)}
    host = conn.headers.get("host")
    if host:
        origins.add(_origin_key(("https" if is_https(conn) else "http") + "://" + host))
    origins.discard(None)
    return origins  # type: ignore[return-value]


def same_origin(conn: HTTPConnection) -> bool:
    """Does an unsafe request come from our own pages? `Origin` decides (`null` never matches); without it
    the `Referer`; a request with neither (a privacy setting, an old client) is left to the token."""
    origin = conn.headers.get("origin")
    source = origin if origin is not None else conn.headers.get("referer")
    if source is None:
        return True
    key = _origin_key(source)
    return key is not None and key in own_origins(conn)


async def _form_token(scope: Scope, body: bytes) -> str | None:
    content_type = ""
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.decode("latin-1").lower()
            break
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get(FORM_FIELD)
        return values[0] if values else None
    if content_type.startswith("multipart/form-data"):
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        request = Request(scope, replay)
        try:
            form = await request.form()
        except Exception:  # malformed multipart: no token
            return None
        try:
            value = form.get(FORM_FIELD)
            return value if isinstance(value, str) else None
        finally:
            await form.close()
    return None


class CsrfMiddleware:
    """Checks the token on every unsafe page request; the body is read once and replayed downstream."""

    def __init__(self, app: ASGIApp, refusal: Callable[[Request], Response]) -> None:
        # `refusal` renders the 403 page (app.storefront.templating.csrf_refusal, passed in by app.main:
        # the templates need this module's tokens, so this module cannot import them).
        self.app = app
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in UNSAFE_METHODS
            or scope["path"].startswith(EXEMPT_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        conn = HTTPConnection(scope)
        token = conn.headers.get(HEADER_NAME) or await _form_token(scope, body)
        if not same_origin(conn) or not token_matches(
            conn.cookies.get(COOKIE_NAME), token, conn.cookies.get(SESSION_COOKIE)
        ):
            response = self.refusal(Request(scope, _disconnected))
            await response(scope, receive, send)
            return
        replayed = False

        async def replay_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay_receive, send)


async def _disconnected() -> Message:
    return {"type": "http.disconnect"}
