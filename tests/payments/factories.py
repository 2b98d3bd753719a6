"""Orders ready to pay, payments created through the API, and what a test looks at afterwards."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from sqlalchemy import func, select

from app.db import session_scope
from app.events import OutboxEvent
from app.orders.models import Order, OrderHistory
from app.payments.models import Payment, PaymentNotification, PaymentRefund
from app.payments.providers import sandbox
from app.users.models import User
from tests.orders.factories import customer, pending_order, sku_on_sale
from tests.users.factories import auth

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "event-schemas"


async def order_to_pay(client: httpx.AsyncClient, *, stock: int = 10, qty: int = 2) -> tuple[User, Any, dict]:
    """A customer's pending order for `qty` of a ¥59.90 SKU (so ¥119.80, above free shipping)."""
    sku = await sku_on_sale(stock=stock)
    user, address = await customer()
    order = await pending_order(client, user, address, sku, qty)
    return user, sku, order


async def start_payment(
    client: httpx.AsyncClient, user: User, order_id: int, channel: str = "sandbox"
) -> dict:
    response = await client.post(
        f"/api/orders/{order_id}/payments", json={"channel": channel}, headers=auth(user)
    )
    assert response.status_code == 201, response.text
    return response.json()


def sandbox_body(payment: dict, order: dict, **overrides: Any) -> bytes:
    data = {
        "payment_id": payment["id"],
        "order_no": order["order_no"],
        "amount_fen": payment["amount_fen"],
        "status": "success",
        "paid_at": datetime(2026, 11, 25, 13, 0, tzinfo=UTC).isoformat(),
    }
    data.update(overrides)
    return json.dumps(data).encode()


async def sandbox_notify(
    client: httpx.AsyncClient, body: bytes, signature: str | None = None
) -> httpx.Response:
    return await client.post(
        "/api/payments/sandbox/notify",
        content=body,
        headers={"Content-Type": "application/json", "X-Sandbox-Signature": signature or sandbox.sign(body)},
    )


async def payment_row(payment_id: int) -> Payment:
    async with session_scope() as session:
        return await session.get(Payment, payment_id)


async def order_row(order_id: int) -> Order:
    async with session_scope() as session:
        return await session.get(Order, order_id)


async def refunds() -> list[PaymentRefund]:
    async with session_scope() as session:
        return list((await session.execute(select(PaymentRefund))).scalars().all())


async def notifications() -> list[PaymentNotification]:
    async with session_scope() as session:
        stmt = select(PaymentNotification).order_by(PaymentNotification.id)
        return list((await session.execute(stmt)).scalars().all())


async def history_count(order_id: int, to_status: str) -> int:
    async with session_scope() as session:
        stmt = (
            select(func.count())
            .select_from(OrderHistory)
            .where(OrderHistory.order_id == order_id, OrderHistory.to_status == to_status)
        )
        return (await session.execute(stmt)).scalar_one()


async def events_of(event_type: str) -> list[dict]:
    """The data of every `event_type` event in the outbox, each checked against its JSON Schema."""
    async with session_scope() as session:
        rows = (
            (
                await session.execute(
                    select(OutboxEvent).where(OutboxEvent.type == event_type).order_by(OutboxEvent.id)
                )
            )
            .scalars()
            .all()
        )
    schema = json.loads((SCHEMAS / f"{event_type}.v1.json").read_text(encoding="utf-8"))
    for row in rows:
        jsonschema.validate(row.data, schema, format_checker=jsonschema.FormatChecker())
    return [row.data for row in rows]


async def state_of(order_id: int, payment_id: int) -> tuple[str, str]:
    """(order status, payment status): what "nothing changed" is compared against."""
    return (await order_row(order_id)).status, (await payment_row(payment_id)).status
