"""Checkout (`POST /api/orders`) answered without FastAPI's routing and dependency machinery.

Checkout is the shop's hottest write, and once its own statements were lean (app.kit.leandb) close to half of
its CPU was the framework: the middleware stack, matching the path against every route, solving the
dependencies and parsing the body. This ASGI middleware recognises an ordinary checkout request and runs the
same steps as the route, with the same functions: the request is parsed by app.checkout.request (the
Idempotency-Key's rules, the body limit, `OrderCreate`), the caller is authenticated like
`current_principal`, the unit of work is `session_scope` (what `SessionDep` uses), the order is placed by
`service.place_order`, and errors are rendered by the same problem+json handlers.

The token's signature and expiry are checked here; whether it was revoked (app.users.revocation) is checked
inside the order's transaction, against the customer's row checkout locks anyway (pipeline.CallerCheck):
no round trip of its own, and no delay at all after a revocation commits. An answer given before that check
ran (a refusal by an earlier step, a replayed answer) first checks the token as `current_principal` does;
a revoked token gets the route's 401 and nothing is written.

Everything it is not sure about goes on to the application before anything is written, with the body replayed:
another content type, a body that is not valid JSON or not a valid order, a missing or bad token, a malformed
Idempotency-Key, an oversized or chunked body. Those are answered by the route, which stays the documented
interface. tests/checkout/test_fast_checkout.py proves both paths answer alike.

A flash sale's rush is the same request to another path: `POST /api/flash-sales/{id}/orders` is taken the
same way (its body parsed as the route's `FlashSaleOrderCreate`, the order placed by
`service.place_flash_sale_order`); tests/flash_sales/test_fast_path.py proves it answers like its route.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.checkout import pipeline, service
from app.checkout import request as checkout_request
from app.db import session_scope
from app.errors import AppError, NotAuthenticated
from app.flash_sales.schemas import FlashSaleOrderCreate
from app.kit import metrics
from app.kit.params import parse_id
from app.kit.problems import app_error_response
from app.orders.schemas import OrderCreate
from app.users import revocation
from app.users.models import Principal
from app.users.security import decode_access_token

PATH = "/api/orders"
FLASH_SALE_PATH = re.compile(r"/api/flash-sales/([0-9]+)/orders")


class CheckoutFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        sale_id = None
        if scope["path"] != PATH:
            match = FLASH_SALE_PATH.fullmatch(scope["path"])
            sale_id = parse_id(match.group(1)) if match is not None else None
            if sale_id is None:
                await self.app(scope, receive, send)
                return
        request = _ordinary_request(scope["headers"])
        if request is None:
            await self.app(scope, receive, send)
            return
        length, token, key = request
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its body arrived
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        data: OrderCreate | FlashSaleOrderCreate | None = None
        if len(body) == length:
            parse = (
                checkout_request.parse_order if sale_id is None else checkout_request.parse_flash_sale_order
            )
            data = parse(body)
        response = await _checkout(token, data, key, sale_id) if data is not None else None
        if response is None:  # not a valid order, or no valid token: the route answers
            await self.app(scope, _replay(body, receive), send)
            return
        metrics.name_route(scope, PATH if sale_id is None else "/api/flash-sales/{sale_id}/orders")
        await response(scope, receive, send)


def _ordinary_request(headers: list[tuple[bytes, bytes]]) -> tuple[int, str, str | None] | None:
    """(Content-Length, bearer token, Idempotency-Key) of a request the fast path can take, else None."""
    length = token = key = content_type = None
    for name, value in headers:
        if name == b"content-length":
            if length is not None or not value.isdigit():
                return None
            length = int(value)
        elif name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            if token is not None or scheme.lower() != b"bearer" or not credentials:
                return None
            token = credentials.decode("latin-1")
        elif name == b"idempotency-key":
            if key is not None or not checkout_request.valid_key(value):
                return None
            key = value.decode("ascii")
        elif name == b"content-type":
            if content_type is not None:
                return None
            content_type = value.split(b";", 1)[0].strip().lower()
        elif name == b"transfer-encoding":
            return None
    if length is None or not checkout_request.body_fits(length) or token is None:
        return None
    if content_type != b"application/json":
        return None
    return length, token, key


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _refused() -> Response:
    """The route's answer to a token that does not stand (app.users.dependencies.current_principal)."""
    return app_error_response(NotAuthenticated("A valid access token is required."))


async def _checkout(
    token: str, data: OrderCreate | FlashSaleOrderCreate, key: str | None, sale_id: int | None
) -> Response | None:
    """The route's answer, or None (before anything was written) when the token is not a valid one."""
    claims = decode_access_token(token)
    if claims is None:
        return None
    caller = pipeline.CallerCheck(claims)
    try:
        async with session_scope() as session:
            principal = Principal(claims["uid"], claims.get("role", ""))
            try:
                if isinstance(data, FlashSaleOrderCreate):
                    assert sale_id is not None
                    placed = await service.place_flash_sale_order(
                        session, principal, sale_id, data, idempotency_key=key, caller=caller
                    )
                else:
                    placed = await service.place_order(
                        session, principal, data, idempotency_key=key, caller=caller
                    )
            except AppError:
                if caller.accepted is None and not await _stands(session, claims):
                    raise pipeline.CallerRefused from None
                raise
            if caller.accepted is None and not await _stands(session, claims):  # a replayed answer
                raise pipeline.CallerRefused
    except pipeline.CallerRefused:
        return _refused()
    except AppError as exc:
        return app_error_response(exc)
    # Any other error goes up to app.kit.middleware.ErrorBoundary, as the route's would: a 503 problem for an
    # unreachable database, a 500 problem for a bug.
    # The route's JSONResponse bytes (compact, non-ASCII as is: the order holds only strings, ints, None and
    # lists/dicts of them), encoded by orjson: a sixth of json.dumps's CPU.
    return Response(orjson.dumps(placed.order), status_code=201, media_type="application/json")


async def _stands(session: AsyncSession, claims: dict[str, Any]) -> bool:
    """The token checked as `current_principal` checks it (the cached auth state)."""
    return revocation.accepts(await revocation.state(session, claims["uid"]), claims)
