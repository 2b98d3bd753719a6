"""A real local HTTP receiver (a thread with its own socket) and plain factories for webhook tests."""

from __future__ import annotations

import hashlib
import hmac
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from app.config import get_settings
from app.db import session_scope, utcnow
from app.users.models import Role
from app.webhooks import service
from app.webhooks.models import MessageStatus, Webhook, WebhookDelivery, WebhookMessage
from app.webhooks.schemas import WebhookCreate, WebhookCreated
from tests.users.factories import create_user


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next of `answers` (the last one repeats): a status code, or "hang" (holds
    the request until the test ends), or ("redirect", location)."""

    answers: list[Any] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/erp"

    def next_answer(self) -> Any:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def serve(receiver: Receiver, tls: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.received.append(Received(self.path, dict(self.headers.items()), body))
            answer = receiver.next_answer()
            if answer == "hang":
                receiver.release.wait(30)
                return
            if isinstance(answer, tuple):
                self.send_response(302)
                self.send_header("Location", answer[1])
            else:
                self.send_response(answer)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    receiver.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    server = serve(r)
    yield r
    r.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def tls_receiver(tmp_path) -> Iterator[tuple[Receiver, Path]]:
    """A receiver behind HTTPS with a self-signed certificate for erp.example.com (and the certificate)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            cert,
            "-days",
            "1",
        ]
        + ["-subj", "/CN=erp.example.com", "-addext", "subjectAltName=DNS:erp.example.com"],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    r = Receiver()
    server = serve(r, tls=context)
    yield r, cert
    r.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    """WEBHOOK_ALLOW_PRIVATE=true: the local receiver is on 127.0.0.1."""
    monkeypatch.setattr(get_settings(), "webhook_allow_private", True)


def verify(secret: str, received: Received) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers["X-Daoxiang-Signature"])


async def admin():
    return await create_user(role=Role.admin, nickname="管理员")


async def create_webhook(url: str, event_types: list[str] | None = None) -> WebhookCreated:
    user = await admin()
    async with session_scope() as session:
        return await service.create(
            session, WebhookCreate(url=url, event_types=event_types or ["order.paid"]), user
        )


def envelope(event_type: str = "order.paid", event_id: str = "e-1", **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/daoxiang",
        "type": event_type,
        "time": "2026-11-30T04:00:00+00:00",
        "datacontenttype": "application/json",
        "data": {"order_id": 1, "order_no": "DX1", "user_id": 1, "amount_fen": 5990} | data,
    }


async def fan_out(event: dict[str, Any]) -> int:
    async with session_scope() as session:
        return await service.fan_out(session, event)


async def messages() -> list[WebhookMessage]:
    async with session_scope() as session:
        return list((await session.scalars(select(WebhookMessage).order_by(WebhookMessage.id))).all())


async def deliveries() -> list[WebhookDelivery]:
    async with session_scope() as session:
        return list((await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))).all())


async def webhook(webhook_id: int) -> Webhook:
    async with session_scope() as session:
        found = await session.get(Webhook, webhook_id)
        assert found is not None
        return found


async def failed_attempt(webhook_id: int, event_id: str = "evt-1", status_code: int = 500) -> WebhookDelivery:
    """A message whose one attempt failed and whose retries are over (as the log shows it a day later)."""
    now = utcnow()
    async with session_scope() as session:
        message = WebhookMessage(
            webhook_id=webhook_id,
            event_id=event_id,
            event_type="order.paid",
            body=orjson.dumps(envelope(event_id=event_id)).decode(),
            status=MessageStatus.failed,
            attempts=1,
            next_attempt_at=now,
            retry_until=now,
            created_at=now,
        )
        session.add(message)
        await session.flush()
        attempt = WebhookDelivery(
            webhook_id=webhook_id,
            message_id=message.id,
            event_id=event_id,
            event_type="order.paid",
            attempt=1,
            succeeded=False,
            status_code=status_code,
            error=f"HTTP {status_code}",
            duration_ms=12,
            attempted_at=now,
        )
        session.add(attempt)
        await session.flush()
    return attempt
