"""Plain factory functions with keyword overrides for orders: customers with an address, a SKU on sale, and
orders placed through the API (products and SKUs come from tests.catalog.factories)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from app.catalog.models import Product, Sku
from app.db import session_scope, utcnow
from app.orders import payment_moves
from app.orders.models import Order, OrderStatus
from app.users.models import Address, Role, User
from tests.catalog.factories import create_product, create_sku
from tests.users.factories import auth, create_address, create_user


async def sku_on_sale(**overrides: Any) -> Sku:
    """A published product with one SKU (¥59.90, 100 in stock unless overridden)."""
    return await create_sku(await create_product(skus=[]), **overrides)


async def stock_of(sku_id: int) -> int:
    async with session_scope() as session:
        return (await session.execute(select(Sku.stock).where(Sku.id == sku_id))).scalar_one()


async def set_stock(sku_id: int, stock: int) -> None:
    async with session_scope() as session:
        sku = await session.get(Sku, sku_id)
        sku.stock = stock


async def sales_of(product_id: int) -> int:
    async with session_scope() as session:
        return (
            await session.execute(select(Product.sales_count).where(Product.id == product_id))
        ).scalar_one()


async def count_orders() -> int:
    async with session_scope() as session:
        return (await session.execute(select(func.count()).select_from(Order))).scalar_one()


async def get_order(order_id: int) -> Order:
    async with session_scope() as session:
        return await session.get(Order, order_id)


async def customer(**address_overrides: Any) -> tuple[User, Address]:
    user = await create_user()
    address = await create_address(user, **address_overrides)
    return user, address


async def staff(role: Role = Role.merchant) -> User:
    return await create_user(role=role, nickname="店员")


async def place(
    client: httpx.AsyncClient,
    user: User,
    address: Address,
    items: list[tuple[int, int]] | None,
    *,
    key: str | None = None,
    **body: Any,
) -> httpx.Response:
    payload: dict[str, Any] = {"address_id": address.id, **body}
    if items is not None:
        payload["items"] = [{"sku_id": sku_id, "quantity": qty} for sku_id, qty in items]
    headers = auth(user)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post("/api/orders", json=payload, headers=headers)


async def pending_order(
    client: httpx.AsyncClient, user: User, address: Address, sku: Sku, qty: int = 1
) -> dict:
    response = await place(client, user, address, [(sku.id, qty)])
    assert response.status_code == 201, response.text
    return response.json()


async def pay(order_id: int, *, paid_at: datetime | None = None) -> payment_moves.PaymentApplied:
    async with session_scope() as session:
        order = await session.get(Order, order_id)
        return await payment_moves.mark_paid(
            session, order_id, amount_fen=order.total_fen, paid_at=paid_at or utcnow()
        )


async def paid_order(client: httpx.AsyncClient, user: User, address: Address, sku: Sku, qty: int = 1) -> dict:
    order = await pending_order(client, user, address, sku, qty)
    assert await pay(order["id"]) == payment_moves.PaymentApplied.paid
    return order


async def shipped_order(
    client: httpx.AsyncClient, user: User, address: Address, sku: Sku, qty: int = 1
) -> dict:
    order = await paid_order(client, user, address, sku, qty)
    response = await client.post(
        f"/api/admin/orders/{order['id']}/ship",
        json={"carrier": "顺丰速运", "tracking_no": "SF1234567890"},
        headers=auth(await staff()),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == OrderStatus.shipped
    return response.json()
