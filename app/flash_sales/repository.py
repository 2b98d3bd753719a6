from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.flash_sales.models import FlashSale, FlashSalePurchase


async def insert_sale(session: AsyncSession, values: dict[str, Any]) -> FlashSale:
    sale = FlashSale(**values)
    session.add(sale)
    await session.flush()
    return sale


async def get(session: AsyncSession, sale_id: int) -> FlashSale | None:
    return await session.get(FlashSale, sale_id, populate_existing=True)


async def list_open(
    session: AsyncSession, now: datetime, offset: int, limit: int
) -> tuple[Sequence[FlashSale], int]:
    """Sales running or still to come (not closed, not past their end), soonest first; and how many."""
    open_ = (FlashSale.closed_at.is_(None), FlashSale.ends_at > now)
    rows = await session.execute(
        select(FlashSale)
        .where(*open_)
        .order_by(FlashSale.starts_at, FlashSale.id)
        .offset(offset)
        .limit(limit)
    )
    total = (await session.execute(select(func.count()).select_from(FlashSale).where(*open_))).scalar_one()
    return rows.scalars().all(), total


async def list_all(session: AsyncSession, offset: int, limit: int) -> tuple[Sequence[FlashSale], int]:
    rows = await session.execute(select(FlashSale).order_by(FlashSale.id.desc()).offset(offset).limit(limit))
    total = (await session.execute(select(func.count()).select_from(FlashSale))).scalar_one()
    return rows.scalars().all(), total


async def due_to_close(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    rows = await session.execute(
        select(FlashSale.id)
        .where(FlashSale.closed_at.is_(None), FlashSale.ends_at <= now)
        .order_by(FlashSale.id)
        .limit(limit)
    )
    return list(rows.scalars().all())


async def gated(session: AsyncSession, limit: int) -> Sequence[FlashSale]:
    """The sales whose gate the reconciliation keeps: not closed (closed ones have none)."""
    rows = await session.execute(
        select(FlashSale).where(FlashSale.closed_at.is_(None)).order_by(FlashSale.id).limit(limit)
    )
    return rows.scalars().all()


async def recently_closed(session: AsyncSession, since: datetime) -> list[int]:
    rows = await session.execute(select(FlashSale.id).where(FlashSale.closed_at >= since))
    return list(rows.scalars().all())


async def close(session: AsyncSession, sale_id: int, now: datetime, *, cancelled: bool) -> int | None:
    """Close the sale once: `remaining` moves to `returned_to_stock` in the same conditional UPDATE (SET
    assignments read the row as it was before the statement on both MariaDB, left to right, and SQLite).
    The units to return to stock; None when the sale was already closed."""
    assignments: list[tuple[Any, Any]] = [
        (FlashSale.returned_to_stock, FlashSale.remaining),  # first: MariaDB assigns left to right
        (FlashSale.remaining, 0),
        (FlashSale.closed_at, now),
        (FlashSale.updated_at, now),
    ]
    if cancelled:
        assignments.append((FlashSale.cancelled_at, now))
    result = await session.execute(
        update(FlashSale)
        .where(FlashSale.id == sale_id, FlashSale.closed_at.is_(None))
        .ordered_values(*assignments)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    returned = await session.execute(select(FlashSale.returned_to_stock).where(FlashSale.id == sale_id))
    return int(returned.scalar_one())


async def holdings(session: AsyncSession, sale_id: int) -> list[tuple[int, int]]:
    """(user id, units) of every customer holding units of the sale (purchases not released)."""
    rows = await session.execute(
        select(FlashSalePurchase.user_id, func.sum(FlashSalePurchase.quantity))
        .where(FlashSalePurchase.sale_id == sale_id, FlashSalePurchase.released_at.is_(None))
        .group_by(FlashSalePurchase.user_id)
    )
    return [(int(user_id), int(units)) for user_id, units in rows.all()]


async def held_by(session: AsyncSession, sale_id: int, user_id: int) -> int:
    held = await session.execute(
        select(func.coalesce(func.sum(FlashSalePurchase.quantity), 0)).where(
            FlashSalePurchase.sale_id == sale_id,
            FlashSalePurchase.user_id == user_id,
            FlashSalePurchase.released_at.is_(None),
        )
    )
    return int(held.scalar_one())


async def insert_purchase(session: AsyncSession, values: dict[str, Any]) -> None:
    conn = await session.connection()
    await conn.execute(insert(FlashSalePurchase.__table__).values(**values))


async def take(session: AsyncSession, sale_id: int, quantity: int, now: datetime) -> bool:
    """Take `quantity` units of an open sale; False (nothing taken) when fewer remain."""
    conn = await session.connection()
    table = FlashSale.__table__
    result = await conn.execute(
        update(table)
        .where(table.c.id == sale_id, table.c.remaining >= quantity)
        .values(remaining=table.c.remaining - quantity, updated_at=now)
    )
    return result.rowcount == 1


async def purchases_to_release(
    session: AsyncSession, order_ids: Sequence[int]
) -> Sequence[FlashSalePurchase]:
    rows = await session.execute(
        select(FlashSalePurchase)
        .where(FlashSalePurchase.order_id.in_(list(order_ids)), FlashSalePurchase.released_at.is_(None))
        .order_by(FlashSalePurchase.sale_id, FlashSalePurchase.id)
    )
    return rows.scalars().all()


async def release_purchase(session: AsyncSession, purchase_id: int, now: datetime) -> bool:
    result = await session.execute(
        update(FlashSalePurchase)
        .where(FlashSalePurchase.id == purchase_id, FlashSalePurchase.released_at.is_(None))
        .values(released_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def return_to_sale(session: AsyncSession, sale_id: int, units: int, now: datetime) -> bool:
    """Units back to a sale still open; False when it is closed (then they belong to the SKU's stock)."""
    result = await session.execute(
        update(FlashSale)
        .where(FlashSale.id == sale_id, FlashSale.closed_at.is_(None))
        .values(remaining=FlashSale.remaining + units, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def sale_row(session: AsyncSession, sale_id: int) -> tuple[Any, ...] | None:
    """(sku_id, price_fen, remaining, per_customer_limit, starts_at, ends_at, closed_at) of a sale."""
    row = (
        await session.execute(
            select(
                FlashSale.sku_id,
                FlashSale.price_fen,
                FlashSale.remaining,
                FlashSale.per_customer_limit,
                FlashSale.starts_at,
                FlashSale.ends_at,
                FlashSale.closed_at,
            ).where(FlashSale.id == sale_id)
        )
    ).first()
    return tuple(row) if row is not None else None
