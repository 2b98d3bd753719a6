"""Checkout's fast path (app.checkout.fast_path) answers exactly as the route does, and hands everything it is
unsure about to the route, body and all, before it has written anything."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from starlette.types import Receive, Scope, Send

from app.checkout.fast_path import CheckoutFastPath
from app.db import session_scope
from app.main import create_app
from app.orders.models import IdempotencyKey
from app.users.models import User
from app.users.security import create_access_token
from tests.orders.factories import count_orders, customer, sku_on_sale, stock_of
from tests.users.factories import auth, create_user, token_for

# What differs between two orders placed alike: identities, numbers and times (the rest must be equal).
VARYING = {"id", "order_no", "created_at", "updated_at", "pay_deadline", "at", "request_id", "order_id"}
_keys = itertools.count(1)


def _same_shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "*" if k in VARYING else _same_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_same_shape(v) for v in value]
    return value


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def routes_only() -> AsyncIterator[httpx.AsyncClient]:
    """The same application without the fast paths: what the route alone answers."""
    async with _client(create_app(fast_paths=False)) as c:
        yield c


class Spy:
    """Stands in for the application behind the fast path: records what reached it, answers 599."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def shop() -> dict[str, Any]:
    user, address = await customer()
    _, foreign_address = await customer()
    return {
        "user": user,
        "address": address.id,
        "foreign_address": foreign_address.id,
        "sku": (await sku_on_sale(stock=10_000)).id,
        "sold_out": (await sku_on_sale(stock=0)).id,
        "withdrawn": (await sku_on_sale(stock=50, is_active=False)).id,
    }


async def set_user(user_id: int, **values: Any) -> None:
    """Change the row behind the auth-state cache's back (as a change another process made)."""
    async with session_scope() as session:
        await session.execute(update(User).where(User.id == user_id).values(**values))


async def count_idempotency_keys() -> int:
    async with session_scope() as session:
        return (await session.execute(select(func.count()).select_from(IdempotencyKey))).scalar_one()


def _body(shop: dict[str, Any], qty: int = 1) -> bytes:
    return orjson.dumps({"address_id": shop["address"], "items": [{"sku_id": shop["sku"], "quantity": qty}]})


class TestWhatTheFastPathTakes:
    async def test_an_ordinary_checkout_never_reaches_the_routes(self, shop):
        spy = Spy()
        async with _client(CheckoutFastPath(spy)) as c:
            response = await c.post(
                "/api/orders",
                content=_body(shop, 2),
                headers={
                    **auth(shop["user"]),
                    "Content-Type": "application/json",
                    "Idempotency-Key": "fast-1",
                },
            )

        assert response.status_code == 201, response.text
        assert response.headers["content-type"] == "application/json"
        assert spy.bodies == []
        assert response.json()["items"][0]["quantity"] == 2
        assert await stock_of(shop["sku"]) == 9_998

    @pytest.mark.parametrize(
        "case",
        [
            "no token",
            "a token that is not one",
            "another scheme",
            "two tokens",
            "form content type",
            "not JSON",
            "not an order",
            "a client-set total",
            "an Idempotency-Key with a space",
            "a key too long",
        ],
    )
    async def test_anything_unusual_reaches_the_route_with_its_body_and_nothing_written(self, shop, case):
        body = _body(shop)
        headers: list[tuple[str, str]] = [
            ("Content-Type", "application/json"),
            ("Authorization", auth(shop["user"])["Authorization"]),
        ]
        if case == "no token":
            headers.pop()
        elif case == "a token that is not one":
            headers[1] = ("Authorization", "Bearer not-a-jwt")
        elif case == "another scheme":
            headers[1] = ("Authorization", "Basic " + headers[1][1].split()[1])
        elif case == "two tokens":
            headers.append(headers[1])
        elif case == "form content type":
            headers[0] = ("Content-Type", "application/x-www-form-urlencoded")
        elif case == "not JSON":
            body = body[:-1]
        elif case == "not an order":
            body = orjson.dumps(
                {"address_id": shop["address"], "items": [{"sku_id": shop["sku"], "quantity": 0}]}
            )
        elif case == "a client-set total":
            body = orjson.dumps({**orjson.loads(body), "total_fen": 1})
        elif case == "an Idempotency-Key with a space":
            headers.append(("Idempotency-Key", "two words"))
        elif case == "a key too long":
            headers.append(("Idempotency-Key", "k" * 256))
        spy = Spy()
        async with _client(CheckoutFastPath(spy)) as c:
            response = await c.post("/api/orders", content=body, headers=headers)

        assert response.status_code == 599
        assert spy.bodies == [body]
        assert await count_orders() == 0
        assert await stock_of(shop["sku"]) == 10_000

    @pytest.mark.parametrize("keyed", [False, True])
    @pytest.mark.parametrize("refusal", [None, "cart_empty", "coupon_not_found"])
    @pytest.mark.parametrize("who", ["a deactivated customer", "a revoked token", "no such user"])
    async def test_a_token_that_no_longer_stands_gets_the_routes_401_and_nothing_is_written(
        self, routes_only, shop, who, refusal, keyed
    ):
        """The token is checked against the customer's locked row (pipeline.CallerCheck), or apart when
        another step refuses first: the route's answer either way, without handing the request on."""
        if who == "a deactivated customer":
            user, address = await customer()
            token = token_for(user)
            await set_user(user.id, is_active=False)
        elif who == "a revoked token":
            user, address = await customer()
            token = token_for(user)
            await set_user(user.id, token_version=user.token_version + 1)
        else:
            user, address = shop["user"], None
            token = create_access_token(10_000_000, "customer")[0]
        payload: dict[str, Any] = {
            "address_id": address.id if address is not None else shop["address"],
            "items": [{"sku_id": shop["sku"], "quantity": 1}],
        }
        if refusal == "cart_empty":
            del payload["items"]
        elif refusal == "coupon_not_found":
            payload["coupon_code"] = "NEW10"
        spy = Spy()
        answers = []
        async with _client(CheckoutFastPath(spy)) as fast:
            for c in (routes_only, fast):
                headers = {"Authorization": f"Bearer {token}"}
                if keyed:
                    headers["Idempotency-Key"] = f"gone-{next(_keys)}"
                response = await c.post("/api/orders", json=payload, headers=headers)
                answers.append(
                    (
                        response.status_code,
                        response.headers["content-type"],
                        response.headers.get("www-authenticate"),
                        # the request id comes from the middleware around both (absent around the Spy)
                        {k: v for k, v in response.json().items() if k != "request_id"},
                    )
                )

        assert answers[0] == answers[1]
        assert answers[0][:3] == (401, "application/problem+json", "Bearer")
        assert spy.bodies == []
        assert await count_orders() == 0
        assert await stock_of(shop["sku"]) == 10_000
        assert await count_idempotency_keys() == 0


class TestSameAnswersAsTheRoute:
    async def test_a_placed_order_and_its_replay(self, client, routes_only, shop):
        headers = {**auth(shop["user"]), "Content-Type": "application/json"}
        slow = await routes_only.post(
            "/api/orders", content=_body(shop, 3), headers={**headers, "Idempotency-Key": "route"}
        )
        fast = await client.post(
            "/api/orders", content=_body(shop, 3), headers={**headers, "Idempotency-Key": "fast"}
        )

        assert (fast.status_code, slow.status_code) == (201, 201)
        assert fast.headers["content-type"] == slow.headers["content-type"]
        assert _same_shape(fast.json()) == _same_shape(slow.json())
        assert fast.json()["order_no"] != slow.json()["order_no"]
        # Each path replays the other's key with the saved answer, and refuses it with another body.
        for c, key, first in ((client, "route", slow), (routes_only, "fast", fast)):
            again = await c.post(
                "/api/orders", content=_body(shop, 3), headers={**headers, "Idempotency-Key": key}
            )
            assert (again.status_code, again.json()) == (201, first.json())
            assert again.content == first.content  # byte for byte (the fast path encodes with orjson)
            other = await c.post(
                "/api/orders", content=_body(shop, 4), headers={**headers, "Idempotency-Key": key}
            )
            assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
        assert await count_orders() == 2
        assert await stock_of(shop["sku"]) == 10_000 - 6

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        address=st.sampled_from(["address", "foreign_address", None, 0, "x"]),
        lines=st.lists(
            st.tuples(st.sampled_from(["sku", "sold_out", "withdrawn", 999_999]), st.integers(-1, 12_000)),
            max_size=3,
        ),
        extra=st.sampled_from(
            [{}, {"note": "  放门口  "}, {"coupon_code": "NEW10"}, {"status": "paid"}, {"items": None}]
        ),
        keyed=st.booleans(),
    )
    async def test_any_request_gets_the_same_answer(
        self, client, routes_only, shop, address, lines, extra, keyed
    ):
        payload: dict[str, Any] = {
            "address_id": shop[address] if isinstance(address, str) and address in shop else address,
            "items": [{"sku_id": shop.get(s, s), "quantity": q} for s, q in lines],
            **extra,
        }
        if payload["address_id"] is None:
            del payload["address_id"]
        answers = []
        for c in (routes_only, client):
            headers = auth(shop["user"])
            if keyed:
                headers["Idempotency-Key"] = f"same-{next(_keys)}"
            response = await c.post("/api/orders", json=payload, headers=headers)
            answers.append(
                (response.status_code, response.headers["content-type"], _same_shape(response.json()))
            )

        assert answers[0] == answers[1]
        assert answers[0][0] in (201, 404, 409, 422)


async def test_a_customer_may_not_use_another_customers_address(client, shop):
    other: User = await create_user()
    response = await client.post(
        "/api/orders", content=_body(shop), headers={**auth(other), "Content-Type": "application/json"}
    )

    assert (response.status_code, response.json()["code"]) == (404, "address_not_found")
    assert await count_orders() == 0
