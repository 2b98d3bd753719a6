from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.orders.models import Order, OrderStatus
from app.presales.models import Presale, PresaleOrder

# The columns the presale-order views read: the share, its order and its pre-sale.
VIEW_COLUMNS = (PresaleOrder, Order, Presale)


async def insert_presale(session: AsyncSession, values: dict[str, Any]) -> Presale:
    presale = Presale(**values)
    session.add(presale)
    await session.flush()
    return presale


async def get(session: AsyncSession, presale_id: int) -> Presale | None:
    return await session.get(Presale, presale_id, populate_existing=True)


async def list_all(session: AsyncSession, offset: int, limit: int) -> tuple[Sequence[Presale], int]:
    rows = await session.execute(select(Presale).order_by(Presale.id.desc()).offset(offset).limit(limit))
    total = (await session.execute(select(func.count()).select_from(Presale))).scalar_one()
    return rows.scalars().all(), total


async def open_for_skus(session: AsyncSession, sku_ids: Sequence[int], now: datetime) -> Sequence[Presale]:
    """The pre-sales of these SKUs still taking deposits."""
    if not sku_ids:
        return []
    rows = await session.execute(
        select(Presale)
        .where(Presale.sku_id.in_(list(sku_ids)), Presale.deposit_ends_at > now)
        .order_by(Presale.id)
    )
    return rows.scalars().all()


async def insert_share(session: AsyncSession, row: dict[str, Any]) -> None:
    await session.execute(insert(PresaleOrder.__table__), [row])


async def take(session: AsyncSession, presale_id: int, quantity: int, now: datetime) -> bool:
    """Take `quantity` of the quota: a conditional UPDATE (never below zero)."""
    table = Presale.__table__
    result = await session.execute(
        update(table)
        .where(table.c.id == presale_id, table.c.remaining >= quantity)
        .values(remaining=table.c.remaining - quantity, updated_at=now)
    )
    return result.rowcount == 1


async def share_of(session: AsyncSession, order_id: int) -> PresaleOrder | None:
    rows = await session.execute(
        select(PresaleOrder)
        .where(PresaleOrder.order_id == order_id)
        .execution_options(populate_existing=True)
    )
    return rows.scalar_one_or_none()


async def shares_to_release(session: AsyncSession, order_ids: Sequence[int]) -> Sequence[PresaleOrder]:
    rows = await session.execute(
        select(PresaleOrder)
        .where(PresaleOrder.order_id.in_(list(order_ids)), PresaleOrder.released_at.is_(None))
        .order_by(PresaleOrder.presale_id, PresaleOrder.id)
    )
    return rows.scalars().all()


async def mark_once(session: AsyncSession, share_id: int, column: str, at: datetime) -> bool:
    """Set one of the share's once-only stamps (released_at, notified_at, stock_taken_at): whoever sets it
    first wins (a conditional UPDATE), every later caller gets False."""
    table = PresaleOrder.__table__
    result = await session.execute(
        update(table).where(table.c.id == share_id, table.c[column].is_(None)).values({column: at})
    )
    return result.rowcount == 1


async def give_back(session: AsyncSession, presale_id: int, quantity: int, now: datetime) -> None:
    table = Presale.__table__
    await session.execute(
        update(table)
        .where(table.c.id == presale_id)
        .values(remaining=table.c.remaining + quantity, updated_at=now)
    )


def _view() -> Any:
    return (
        select(*VIEW_COLUMNS)
        .join(Order, Order.id == PresaleOrder.order_id)
        .join(Presale, Presale.id == PresaleOrder.presale_id)
    )


async def views_for_user(
    session: AsyncSession, user_id: int, offset: int, limit: int
) -> tuple[list[tuple[PresaleOrder, Order, Presale]], int]:
    rows = await session.execute(
        _view()
        .where(PresaleOrder.user_id == user_id)
        .order_by(PresaleOrder.id.desc())
        .offset(offset)
        .limit(limit)
    )
    total = (
        await session.execute(
            select(func.count()).select_from(PresaleOrder).where(PresaleOrder.user_id == user_id)
        )
    ).scalar_one()
    return [tuple(r) for r in rows.all()], total  # type: ignore[misc]


async def view_of(session: AsyncSession, order_id: int) -> tuple[PresaleOrder, Order, Presale] | None:
    row = (await session.execute(_view().where(PresaleOrder.order_id == order_id))).first()
    return tuple(row) if row is not None else None  # type: ignore[return-value]


async def behind(
    session: AsyncSession, presale_id: int, now: datetime, offset: int, limit: int
) -> tuple[list[tuple[PresaleOrder, Order, Presale]], int]:
    """The orders of a pre-sale whose deposit is paid and whose balance is not (yet): the window is open
    (or has not opened: they are listed too, staff see who will have to pay)."""
    where = and_(PresaleOrder.presale_id == presale_id, Order.status == OrderStatus.deposit_paid.value)
    rows = await session.execute(_view().where(where).order_by(PresaleOrder.id).offset(offset).limit(limit))
    total = (
        await session.execute(
            select(func.count())
            .select_from(PresaleOrder)
            .join(Order, Order.id == PresaleOrder.order_id)
            .where(where)
        )
    ).scalar_one()
    return [tuple(r) for r in rows.all()], total  # type: ignore[misc]


async def due(
    session: AsyncSession, column: Any, status: OrderStatus, now: datetime, limit: int, *, unnotified: bool
) -> list[int]:
    """Ids of the orders in `status` whose pre-sale's `column` has come (balance_starts_at: to notify, those
    not notified yet; balance_ends_at: to cancel)."""
    stmt = (
        select(PresaleOrder.order_id)
        .join(Order, Order.id == PresaleOrder.order_id)
        .join(Presale, Presale.id == PresaleOrder.presale_id)
        .where(Order.status == status.value, column <= now)
        .order_by(PresaleOrder.order_id)
        .limit(limit)
    )
    if unnotified:
        stmt = stmt.where(PresaleOrder.notified_at.is_(None))
    return list((await session.execute(stmt)).scalars().all())
