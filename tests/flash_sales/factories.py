"""Plain factory functions with keyword overrides for flash sales."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from app.catalog.models import Sku
from app.db import session_scope, utcnow
from app.flash_sales import gate
from app.flash_sales import service as flash_service
from app.flash_sales.models import FlashSale, FlashSalePurchase
from app.flash_sales.schemas import FlashSaleCreate
from app.users.models import Address, Role, User
from tests.users.factories import auth, create_user


async def create_flash_sale(
    sku: Sku,
    *,
    price_fen: int = 3990,
    quantity: int = 10,
    per_customer_limit: int = 1,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> FlashSale:
    """A sale of `sku` running from a minute ago for an hour (unless overridden), made by staff as the API
    does: its units taken from the SKU's stock, its gate made (with Redis)."""
    staff = await create_user(role=Role.merchant, nickname="店员")
    starts_at = starts_at or utcnow() - timedelta(minutes=1)
    data = FlashSaleCreate(
        sku_id=sku.id,
        price_fen=price_fen,
        quantity=quantity,
        per_customer_limit=per_customer_limit,
        starts_at=starts_at,
        ends_at=ends_at or starts_at + timedelta(hours=1),
    )
    async with session_scope() as session:
        sale = await flash_service.create(session, staff, data)
    return sale


async def buy(
    client: httpx.AsyncClient,
    user: User,
    address: Address,
    sale: FlashSale | int,
    quantity: int = 1,
    *,
    key: str | None = None,
) -> httpx.Response:
    sale_id = sale if isinstance(sale, int) else sale.id
    headers = auth(user)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(
        f"/api/flash-sales/{sale_id}/orders",
        json={"address_id": address.id, "quantity": quantity},
        headers=headers,
    )


async def sale_row(sale_id: int) -> FlashSale:
    async with session_scope() as session:
        return (await session.execute(select(FlashSale).where(FlashSale.id == sale_id))).scalar_one()


async def remaining(sale_id: int) -> int:
    return (await sale_row(sale_id)).remaining


async def holdings(sale_id: int) -> dict[int, int]:
    """{user id: units held} as the database has them (purchases not released)."""
    async with session_scope() as session:
        rows = await session.execute(
            select(FlashSalePurchase.user_id, FlashSalePurchase.quantity).where(
                FlashSalePurchase.sale_id == sale_id, FlashSalePurchase.released_at.is_(None)
            )
        )
        held: dict[int, int] = {}
        for user_id, units in rows.all():
            held[user_id] = held.get(user_id, 0) + units
        return held


async def gate_agrees_with_database(sale_id: int) -> bool:
    """The gate says what the database says (remaining, and each customer's holding)."""
    return await gate.state(sale_id) == (await remaining(sale_id), await holdings(sale_id))


def shift_clock(monkeypatch: Any, by: timedelta) -> None:
    """Move the clock of the flash sales (windows, closing) and of the orders' jobs (pay deadlines)."""
    from app.orders import jobs as orders_jobs

    moved = utcnow() + by
    monkeypatch.setattr(flash_service, "now", lambda: moved)
    monkeypatch.setattr(orders_jobs, "utcnow", lambda: moved)
