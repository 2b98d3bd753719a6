from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.cart.models import CartItem
from app.catalog.models import Product, Sku
from app.db import utcnow


async def lines_with_skus(session: AsyncSession, user_id: int) -> Sequence[Any]:
    rows = await session.execute(
        select(
            CartItem.sku_id,
            CartItem.quantity,
            Sku.name.label("sku_name"),
            Sku.price_fen,
            Sku.stock,
            Sku.is_active,
            Sku.product_id,
            Product.name.label("product_name"),
            Product.status.label("product_status"),
        )
        .join(Sku, Sku.id == CartItem.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .where(CartItem.user_id == user_id)
        .order_by(CartItem.id)
    )
    return rows.all()


async def sku_with_product(session: AsyncSession, sku_id: int) -> Any | None:
    return (
        await session.execute(
            select(Sku.id, Sku.stock, Sku.is_active, Product.status.label("product_status"))
            .join(Product, Product.id == Sku.product_id)
            .where(Sku.id == sku_id)
        )
    ).one_or_none()


async def set_quantity(session: AsyncSession, user_id: int, sku_id: int, quantity: int) -> None:
    """Upsert one line; two concurrent adds of the same SKU end as one line."""
    now = utcnow()
    stmt = (
        update(CartItem)
        .where(CartItem.user_id == user_id, CartItem.sku_id == sku_id)
        .values(quantity=quantity, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if (await session.execute(stmt)).rowcount:
        return
    try:
        async with session.begin_nested():
            session.add(
                CartItem(user_id=user_id, sku_id=sku_id, quantity=quantity, created_at=now, updated_at=now)
            )
    except IntegrityError:
        await session.execute(stmt)


async def remove(session: AsyncSession, user_id: int, sku_ids: list[int]) -> int:
    result = await session.execute(
        delete(CartItem).where(CartItem.user_id == user_id, CartItem.sku_id.in_(sku_ids))
    )
    return result.rowcount or 0
