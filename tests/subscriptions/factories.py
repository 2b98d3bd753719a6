"""Plain factory functions for subscriptions: subscribe through the API, pay (through the sandbox gateway, so
a refund has a payment to go back through), run the worker's job, read what a customer would see."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from app.catalog.models import Sku
from app.db import session_scope, utcnow
from app.notifications.models import Notification
from app.orders.models import Order
from app.subscriptions import tasks
from app.users.models import Address, User
from tests.payments.factories import sandbox_body, sandbox_notify, start_payment
from tests.users.factories import auth


async def subscribe(
    client: httpx.AsyncClient,
    user: User,
    address: Address,
    sku: Sku,
    *,
    quantity: int = 1,
    interval: str = "monthly",
    periods: int = 3,
    **overrides: Any,
) -> httpx.Response:
    body = {
        "sku_id": sku.id,
        "quantity": quantity,
        "interval": interval,
        "periods": periods,
        "address_id": address.id,
        **overrides,
    }
    return await client.post("/api/subscriptions", json=body, headers=auth(user))


async def paid_subscription(
    client: httpx.AsyncClient, user: User, address: Address, sku: Sku, **kw: Any
) -> dict:
    """Subscribed, paid through the sandbox gateway now (by the shop's clock), and the job run once: active,
    with its first delivery placed."""
    response = await subscribe(client, user, address, sku, **kw)
    assert response.status_code == 201, response.text
    subscription = response.json()
    await pay_by_sandbox(client, user, subscription["order_id"])
    await run_job()
    return await read(client, user, subscription["id"])


async def pay_by_sandbox(client: httpx.AsyncClient, user: User, order_id: int) -> None:
    async with session_scope() as session:
        order = await session.get(Order, order_id)
        order_json = {"order_no": order.order_no}
    payment = await start_payment(client, user, order_id)
    body = sandbox_body(payment, order_json, paid_at=utcnow().isoformat())
    response = await sandbox_notify(client, body)
    assert response.status_code == 200, response.text


async def run_job() -> int:
    async with session_scope() as session:
        return await tasks.run(session)


async def read(client: httpx.AsyncClient, user: User, subscription_id: int) -> dict:
    response = await client.get(f"/api/subscriptions/{subscription_id}", headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()


async def action(client: httpx.AsyncClient, user: User, subscription_id: int, name: str) -> httpx.Response:
    return await client.post(f"/api/subscriptions/{subscription_id}/{name}", headers=auth(user))


async def order_of(order_id: int) -> Order:
    async with session_scope() as session:
        return await session.get(Order, order_id)


async def staff_notifications(event_type: str) -> int:
    async with session_scope() as session:
        return (
            await session.execute(
                select(func.count()).select_from(Notification).where(Notification.event_type == event_type)
            )
        ).scalar_one()
