"""Pure ASGI middleware: request ids, access log, body size limit."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import AppError, WriteConflict
from app.kit.client import client_address_of
from app.kit.context import request_id_var
from app.kit.metrics import record_request

access_log = logging.getLogger("daoxiang.access")
errors_log = logging.getLogger("daoxiang.errors")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


class RequestIdMiddleware:
    """Takes a sane incoming X-Request-ID or makes one; puts it on the response and in every log line.
    With `metrics`, also counts and times the request (outermost, so the fast paths are counted too)."""

    def __init__(self, app: ASGIApp, *, metrics: bool = False) -> None:
        self.app = app
        self.metrics = metrics  # count and time every request by route template (app.kit.metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.metrics:
                record_request(scope, status["code"], time.perf_counter() - started)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "client": client_address_of(scope),
                        "status": status["code"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            request_id_var.reset(token)


class BodyTooLarge(HTTPException):
    """An HTTPException so that FastAPI's body parsing re-raises it instead of calling it a parse error."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


UPLOAD_PATHS = ("/api/admin/", "/admin/", "/api/review-images", "/account/reviews/")


class BodySizeLimitMiddleware:
    """Refuses bodies over the limit with 413, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    def _limit_for(self, scope: Scope) -> int:
        # Staff uploads (images, certificate scans, import files) may be larger than API bodies; the back
        # office pages (/admin/) upload the same files through forms. Customers upload review photos.
        return self.max_upload_bytes if scope["path"].startswith(UPLOAD_PATHS) else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope)
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await self._reject(scope, receive, send, limit)
                    return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._reject(scope, receive, send, limit)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        from app.kit.problems import problem_response

        response = problem_response(
            413, "payload_too_large", "Payload too large", f"The request body is larger than {limit} bytes."
        )
        await response(scope, receive, send)


ErrorResponder = Callable[[Scope, Exception, "AppError | None"], Awaitable[Response]]


def problem_for(_scope: Scope, exc: Exception, fault: AppError | None) -> Awaitable[Response]:
    """The default answer: the fault's own problem+json, or a 500 problem for a bug."""
    from app.kit import problems

    async def respond() -> Response:
        if fault is not None:
            return problems.app_error_response(fault)
        return problems.internal_error_response()

    return respond()


class ErrorBoundary:
    """The one place an exception that escaped the application is answered and logged.

    Starlette's own catch-all (an exception handler for `Exception`) sends the 500 and then re-raises, so the
    server logs the traceback a second time and drops the client's keep-alive connection. This middleware,
    just inside the request id, answers instead and returns normally:
    - an expected fault (database or Redis unreachable, app.kit.faults) with the app's own error (503
      `database_unavailable` + Retry-After), logged once in one line;
    - anything else with 500 `internal_error`, logged once with its traceback.
    Errors raised before FastAPI's routing (the fast paths, CSRF) are covered the same way."""

    def __init__(self, app: ASGIApp, respond: ErrorResponder = problem_for) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            from app.kit.faults import infrastructure_fault

            where = {"method": scope.get("method"), "path": scope.get("path")}
            fault = exc if isinstance(exc, AppError) else infrastructure_fault(exc)
            if isinstance(exc, AppError):
                pass  # an answer raised outside the routes (middleware): nothing to log
            elif fault is None:
                errors_log.error("unhandled error", exc_info=exc, extra=where)
            else:
                cause = (
                    getattr(exc, "orig", None) or exc
                )  # the driver's error, without SQLAlchemy's help text
                errors_log.warning(
                    fault.code, extra={**where, "error": f"{type(cause).__name__}: {cause}"[:300]}
                )
            if started:
                return  # part of a response went out: the server closes the connection, nothing to add
            response = await self.respond(scope, exc, fault)
            await response(scope, receive, send)


class RetryOnConflict:
    """PUT and DELETE are idempotent (RFC 9110): one whose transaction the database rolled back for a write
    conflict (app.kit.faults: a deadlock, or a Galera node's certification conflict at COMMIT, which on a
    cluster happens whenever two nodes write rows that share a key, e.g. a cart line and a checkout over the
    same SKU) is run again, up to ATTEMPTS times, before any byte of an answer went out. Nothing of a rolled
    back try remains, so the repeat is the request as if it came alone. Other methods are not repeated: the
    client decides (503 `write_conflict`, Retry-After: 1); checkout retries its own transaction.

    Sits inside the body size limit, so the body it keeps for the repeat is bounded."""

    ATTEMPTS = 3
    METHODS = frozenset({"PUT", "DELETE"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in self.METHODS:
            await self.app(scope, receive, send)
            return
        from app.kit.faults import infrastructure_fault

        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        for attempt in range(1, self.ATTEMPTS + 1):
            started = False
            delivered = False

            async def replay() -> Message:
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            async def tracking_send(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                await send(message)

            try:
                await self.app(scope, replay, tracking_send)
                return
            except Exception as exc:
                if (
                    started
                    or attempt == self.ATTEMPTS
                    or not isinstance(infrastructure_fault(exc), WriteConflict)
                ):
                    raise
                errors_log.info(
                    "write_conflict_retried",
                    extra={"method": scope["method"], "path": scope.get("path"), "attempt": attempt},
                )
