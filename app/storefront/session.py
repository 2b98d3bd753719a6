"""Page sessions: an HttpOnly, SameSite=Lax cookie holding the refresh token of a login.

The refresh token is random, stored only as a hash, and revocable, so it is a proper server-side session
id: logging out revokes it (and every token of that login), and an expired or revoked token ends the page
session. Access tokens are never given to the browser; nothing lives in localStorage.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi import Request, Response

from app.config import get_settings
from app.storefront import csrf
from app.users.schemas import TokenPair

COOKIE_NAME = "dx_session"


def session_token(request: Request) -> str | None:
    value = request.cookies.get(COOKIE_NAME)
    if not value or len(value) > 200:
        return None
    return value


def start(request: Request, response: Response, tokens: TokenPair) -> None:
    settings = get_settings()
    response.set_cookie(
        COOKIE_NAME,
        tokens.refresh_token,
        max_age=int(settings.refresh_token_days * 86400),
        httponly=True,
        samesite="lax",
        secure=csrf.is_secure(request),
        path="/",
    )
    csrf.rotate(request, tokens.refresh_token)
    csrf.ensure_cookie(request, response)


def end(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=csrf.is_secure(request)
    )
    csrf.rotate(request)
    csrf.ensure_cookie(request, response)


def safe_next(value: str | None, default: str = "/") -> str:
    """Only a path on this site: never `//evil.example` or `https://...` (open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ch in value for ch in "\r\n\t"):
        return default
    return value


def login_url(request: Request) -> str:
    """Where to log in, coming back afterwards: this page, or for a form post the page the form was on."""
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        referer = urlsplit(request.headers.get("referer", ""))
        same_site = referer.netloc == request.url.netloc
        target = (referer.path + (f"?{referer.query}" if referer.query else "")) if same_site else "/"
    return "/login?next=" + quote(safe_next(target), safe="/")
