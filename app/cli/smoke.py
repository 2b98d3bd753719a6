"""`daoxiang smoke`: a quick end-to-end check of a running server."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

import typer

from app.cli.processes import echo_bad, echo_ok


class SmokeFailure(Exception):
    pass


def smoke(
    base_url: Annotated[str, typer.Option(help="the server to test")] = "http://127.0.0.1:8000",
    timeout: Annotated[float, typer.Option(help="seconds per request")] = 10.0,
) -> None:
    """Register a temporary user, log in, read it back, check health. Exit 1 on any failure."""
    import httpx

    base_url = base_url.rstrip("/")
    phone = "17" + "".join(secrets.choice("0123456789") for _ in range(9))
    password = "smoke-" + secrets.token_urlsafe(12)
    context: dict = {}

    def health(client: httpx.Client) -> str:
        r = client.get("/api/health")
        _expect(r, 200)
        body = r.json()
        if body.get("database") != "ok":
            raise SmokeFailure(f"database {body.get('database')}")
        return f"status={body['status']} database={body['database']} redis={body['redis']}"

    def register(client: httpx.Client) -> str:
        r = client.post("/api/users", json={"phone": phone, "password": password, "nickname": "冒烟测试"})
        _expect(r, 201)
        context["user_id"] = r.json()["id"]
        return f"user {phone} (id {context['user_id']})"

    def login(client: httpx.Client) -> str:
        r = client.post("/api/auth/login", json={"phone": phone, "password": password})
        _expect(r, 200)
        context["token"] = r.json()["access_token"]
        context["refresh"] = r.json()["refresh_token"]
        return "access + refresh token"

    def me(client: httpx.Client) -> str:
        r = client.get("/api/users/me", headers={"Authorization": f"Bearer {context['token']}"})
        _expect(r, 200)
        body = r.json()
        if body.get("phone") != phone or body.get("id") != context["user_id"]:
            raise SmokeFailure(f"got {body}")
        return f"phone {body['phone']}, role {body['role']}"

    def logout(client: httpx.Client) -> str:
        r = client.post("/api/auth/logout", json={"refresh_token": context["refresh"]})
        _expect(r, 204)
        return "refresh token revoked"

    steps = [
        ("GET  /api/health", health),
        ("POST /api/users", register),
        ("POST /api/auth/login", login),
        ("GET  /api/users/me", me),
        ("POST /api/auth/logout", logout),
    ]
    typer.echo(f"冒烟测试 {base_url}")
    failed = False
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        for label, step in steps:
            started = time.perf_counter()
            try:
                detail = step(client)
            except (SmokeFailure, httpx.HTTPError, ValueError, KeyError) as exc:
                echo_bad(label, f"{type(exc).__name__}: {exc}")
                failed = True
                break
            echo_ok(label, f"{detail} ({(time.perf_counter() - started) * 1000:.0f} ms)")
    if failed:
        typer.echo(typer.style("冒烟测试失败", fg="red", bold=True))
        raise typer.Exit(1)
    typer.echo(typer.style("冒烟测试通过", fg="green", bold=True))


def _expect(response, status_code: int) -> None:
    if response.status_code != status_code:
        raise SmokeFailure(f"HTTP {response.status_code} (expected {status_code}): {response.text[:300]}")
