"""Helpers for page tests: read the CSRF token from a rendered form and log in through the login page."""

from __future__ import annotations

import re

import httpx

from app.users.models import User
from tests.users.factories import DEFAULT_PASSWORD

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def csrf_token(client: httpx.AsyncClient, path: str = "/login") -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return csrf_from(response.text)


async def log_in(client: httpx.AsyncClient, user: User, password: str = DEFAULT_PASSWORD) -> None:
    token = await csrf_token(client, "/login")
    response = await client.post(
        "/login", data={"phone": user.phone, "password": password, "csrf_token": token, "next": "/"}
    )
    assert response.status_code == 303, response.text
    assert "dx_session" in client.cookies


def is_html(response: httpx.Response) -> bool:
    return response.headers["content-type"].startswith("text/html")
