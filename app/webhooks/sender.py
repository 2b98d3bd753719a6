"""One attempt: POST the message's exact body to the checked, pinned address, signed, within a total timeout.

The signature is `sha256=<hex HMAC-SHA256 of the raw body with the webhook's secret>`, the same bytes that
are sent. No redirect is followed (a 3xx is a failed attempt: the receiver must answer at the URL it gave),
no proxy from the environment is used, and the answer's body is never read.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import ssl
import time
from dataclasses import dataclass

import httpx

from app.errors import AppError
from app.webhooks import safety

USER_AGENT = "Daoxiang-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: int


@functools.cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle costs ~100 ms of CPU: once per process, not once per attempt.
    return httpx.create_ssl_context()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(*, secret: str, body: bytes, event_id: str, event_type: str) -> dict[str, str]:
    return {
        "Content-Type": "application/cloudevents+json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Daoxiang-Event-Id": event_id,
        "X-Daoxiang-Event-Type": event_type,
        "X-Daoxiang-Signature": signature(secret, body),
    }


async def _post(
    target: safety.Target, body: bytes, request_headers: dict[str, str], limit_seconds: float
) -> int:
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(limit_seconds), follow_redirects=False, trust_env=False, verify=_tls()
    ) as client:
        request = client.build_request(
            "POST",
            target.pinned_url,
            content=body,
            headers=request_headers | {"Host": target.host_header},
            extensions=extensions,
        )
        response = await client.send(request, stream=True)
        await response.aclose()
        return response.status_code


async def attempt(
    url: str, *, secret: str, body: bytes, event_id: str, event_type: str, limit_seconds: float
) -> Outcome:
    """Check the URL again (DNS rebinding), then send. Never raises: every failure is an Outcome."""
    started = time.monotonic()

    def done(succeeded: bool, status_code: int | None, error: str | None) -> Outcome:
        return Outcome(
            succeeded, status_code, error and error[:255], int((time.monotonic() - started) * 1000)
        )

    try:
        target = await safety.check(url)
    except AppError as exc:
        return done(False, None, f"refused: {exc.detail}")
    request_headers = headers(secret=secret, body=body, event_id=event_id, event_type=event_type)
    try:
        # The whole attempt, not each read: a receiver trickling bytes must not hold a worker longer.
        status_code = await asyncio.wait_for(
            _post(target, body, request_headers, limit_seconds), timeout=limit_seconds
        )
    except TimeoutError:
        return done(False, None, f"timed out after {limit_seconds:g} s")
    except httpx.HTTPError as exc:
        return done(False, None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    except OSError as exc:
        return done(False, None, f"{type(exc).__name__}: {exc}")
    return done(
        200 <= status_code < 300, status_code, None if 200 <= status_code < 300 else f"HTTP {status_code}"
    )
