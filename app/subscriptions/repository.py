from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.orders.models import Order
from app.subscriptions.models import Subscription, SubscriptionDelivery, SubscriptionStatus

S = SubscriptionStatus
DUE = (S.active.value, S.waiting_for_stock.value)


async def add(session: AsyncSession, subscription: Subscription) -> None:
    session.add(subscription)
    await session.flush()


async def get(
    session: AsyncSession, subscription_id: int, *, user_id: int | None = None, lock: bool = False
) -> Subscription | None:
    stmt = select(Subscription).where(Subscription.id == subscription_id)
    if user_id is not None:
        stmt = stmt.where(Subscription.user_id == user_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def by_order(session: AsyncSession, order_id: int) -> Subscription | None:
    stmt = select(Subscription).where(Subscription.order_id == order_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_for_user(
    session: AsyncSession, user_id: int, offset: int, limit: int
) -> tuple[Sequence[Subscription], int]:
    where = Subscription.user_id == user_id
    rows = (
        await session.execute(
            select(Subscription).where(where).order_by(Subscription.id.desc()).offset(offset).limit(limit)
        )
    ).scalars()
    total = (await session.execute(select(func.count()).select_from(Subscription).where(where))).scalar_one()
    return rows.all(), total


async def list_for_staff(
    session: AsyncSession, status: str | None, offset: int, limit: int
) -> tuple[Sequence[Subscription], int]:
    stmt = select(Subscription)
    count = select(func.count()).select_from(Subscription)
    if status is not None:
        stmt, count = stmt.where(Subscription.status == status), count.where(Subscription.status == status)
    rows = (
        await session.execute(stmt.order_by(Subscription.id.desc()).offset(offset).limit(limit))
    ).scalars()
    return rows.all(), (await session.execute(count)).scalar_one()


async def deliveries_of(
    session: AsyncSession, subscription_ids: Sequence[int]
) -> Sequence[SubscriptionDelivery]:
    if not subscription_ids:
        return []
    stmt = (
        select(SubscriptionDelivery)
        .where(SubscriptionDelivery.subscription_id.in_(subscription_ids))
        .order_by(SubscriptionDelivery.subscription_id, SubscriptionDelivery.period)
    )
    return (await session.execute(stmt)).scalars().all()


async def upcoming(session: AsyncSession, until: date, limit: int) -> Sequence[Subscription]:
    stmt = (
        select(Subscription)
        .where(Subscription.status.in_(DUE), Subscription.next_delivery_on <= until)
        .order_by(Subscription.next_delivery_on, Subscription.id)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def ids_with_order_moved_on(session: AsyncSession, limit: int) -> list[int]:
    """Subscriptions still pending payment whose order has moved on (paid, cancelled...)."""
    stmt = (
        select(Subscription.id)
        .join(Order, Order.id == Subscription.order_id)
        .where(Subscription.status == S.pending_payment.value, Order.status != "pending_payment")
        .order_by(Subscription.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def ids_running_with_order_ended(session: AsyncSession, ended: Sequence[str], limit: int) -> list[int]:
    """Subscriptions still running whose prepaid order was cancelled or refunded as a whole."""
    stmt = (
        select(Subscription.id)
        .join(Order, Order.id == Subscription.order_id)
        .where(Subscription.status.in_((*DUE, S.paused.value)), Order.status.in_(ended))
        .order_by(Subscription.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def ids_due(session: AsyncSession, day: date, limit: int) -> list[int]:
    """Subscriptions with a delivery due on or before `day` (waiting for stock included)."""
    stmt = (
        select(Subscription.id)
        .where(Subscription.status.in_(DUE), Subscription.next_delivery_on <= day)
        .order_by(Subscription.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def take(session: AsyncSession, subscription_id: int) -> Subscription | None:
    """The subscription locked for this transaction; None while another worker holds it (SKIP LOCKED)."""
    stmt = (
        select(Subscription)
        .where(Subscription.id == subscription_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def move(
    session: AsyncSession, subscription: Subscription, from_statuses: Sequence[str], **values: Any
) -> bool:
    """A conditional UPDATE from the statuses the caller saw; False when someone else moved it first."""
    result = await session.execute(
        update(Subscription)
        .where(Subscription.id == subscription.id, Subscription.status.in_(from_statuses))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    for key, value in values.items():
        set_committed_value(subscription, key, value)
    return True


async def add_delivery(session: AsyncSession, delivery: SubscriptionDelivery) -> None:
    session.add(delivery)
    await session.flush()
