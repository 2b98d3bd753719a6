"""The worker's job: subscriptions whose order was paid become active (the first delivery due that day),
those whose order was cancelled or refunded end, and each delivery due is placed as its own order
(app.checkout.delivery), one subscription per short transaction.

Safe with several workers at once: each subscription is taken with SELECT ... FOR UPDATE SKIP LOCKED and its
state re-checked under that lock, and each period's delivery has a unique source_ref, so a delivery is
never placed twice. A delivery the stock cannot cover is not skipped: the subscription waits
(`waiting_for_stock`, the customer and staff told once) and the job tries again on every run until it goes
out."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.checkout import delivery
from app.db import session_scope, utcnow
from app.errors import AppError
from app.kit.time import shop_today
from app.notifications import service as notifications_service
from app.orders.errors import OutOfStock
from app.orders.models import Order, OrderStatus
from app.subscriptions import repository, schedule
from app.subscriptions.models import Subscription, SubscriptionDelivery, SubscriptionStatus

log = logging.getLogger("daoxiang.subscriptions")
S = SubscriptionStatus
BATCH = 200
ENDED_ORDER = (OrderStatus.cancelled, OrderStatus.refunding, OrderStatus.refunded)


async def run(session: AsyncSession) -> int:
    """Worker job `subscriptions.run`: what changed (activated, ended, delivered, now waiting)."""
    ended = [status.value for status in ENDED_ORDER]
    changed = 0
    changed += await _each(await repository.ids_with_order_moved_on(session, BATCH), _settle_payment)
    changed += await _each(
        await repository.ids_running_with_order_ended(session, ended, BATCH), _end_refunded
    )
    changed += await _each(await repository.ids_due(session, shop_today(utcnow()), BATCH), deliver_due)
    return changed


Handler = Callable[[AsyncSession, Subscription], Awaitable[bool]]


async def _each(ids: list[int], handle: Handler) -> int:
    """The job's session only lists; each subscription is handled in a short transaction of its own, taken
    with SKIP LOCKED and re-checked under the lock (one subscription, one customer, one SKU locked at a
    time: two workers never wait on each other in a cycle)."""
    changed = 0
    for subscription_id in ids:
        async with session_scope() as session:
            s = await repository.take(session, subscription_id)
            if s is not None and await handle(session, s):
                changed += 1
    return changed


async def _order(session: AsyncSession, order_id: int) -> Order:
    order = await session.get(Order, order_id, populate_existing=True)
    assert order is not None
    return order


async def _settle_payment(session: AsyncSession, s: Subscription) -> bool:
    """Paid: active from the day of payment (Beijing), the first delivery due that day. Cancelled or
    refunded before being paid for: the subscription ends with it."""
    if s.status != S.pending_payment:
        return False
    order = await _order(session, s.order_id)
    now = utcnow()
    if order.status in ENDED_ORDER:
        await repository.move(
            session,
            s,
            (S.pending_payment.value,),
            status=S.cancelled.value,
            refund_fen=0,
            cancelled_at=now,
            updated_at=now,
        )
        await emit_cancelled(session, s)
        return True
    if order.status == OrderStatus.pending_payment or order.paid_at is None:
        return False
    anchor = shop_today(order.paid_at)
    await repository.move(
        session,
        s,
        (S.pending_payment.value,),
        status=S.active.value,
        anchor_on=anchor,
        slot=0,
        next_delivery_on=anchor,
        updated_at=now,
    )
    await events.emit(
        session,
        "subscription.activated",
        {
            "subscription_id": s.id,
            "user_id": s.user_id,
            "order_id": s.order_id,
            "periods": s.periods,
            "interval": s.interval,
            "first_delivery_on": anchor.isoformat(),
        },
        subject=f"subscription/{s.id}",
    )
    return True


async def _end_refunded(session: AsyncSession, s: Subscription) -> bool:
    """The prepaid order was refunded as a whole through the order's own refund: no delivery follows."""
    if s.status not in (S.active, S.waiting_for_stock, S.paused):
        return False
    order = await _order(session, s.order_id)
    if order.status not in ENDED_ORDER:
        return False
    now = utcnow()
    await repository.move(
        session,
        s,
        (s.status,),
        status=S.cancelled.value,
        refund_fen=order.total_fen,
        next_delivery_on=None,
        cancelled_at=now,
        updated_at=now,
    )
    await emit_cancelled(session, s)
    return True


async def deliver_due(session: AsyncSession, s: Subscription) -> bool:
    """Place the next period's delivery order if it is due; wait for stock when there is not enough."""
    now = utcnow()
    today = shop_today(now)
    if s.status not in repository.DUE or s.next_delivery_on is None or s.next_delivery_on > today:
        return False
    assert s.anchor_on is not None
    period = s.delivered_periods + 1
    try:
        order = await delivery.place_delivery_order(
            session,
            user_id=s.user_id,
            kind=delivery.SUBSCRIPTION_DELIVERY,
            sku_id=s.sku_id,
            quantity=s.quantity,
            address_id=s.address_id,
            source_ref=f"subscription:{s.id}:{period}",
        )
    except OutOfStock:
        return await _wait_for_stock(session, s, period)
    except AppError as exc:
        # An address deleted, a SKU removed: nothing the job can settle alone; it tries again next run.
        log.warning("subscription delivery refused", extra={"subscription_id": s.id, "code": exc.code})
        return False
    await repository.add_delivery(
        session,
        SubscriptionDelivery(
            subscription_id=s.id,
            period=period,
            order_id=order.id,
            scheduled_on=s.next_delivery_on,
            created_at=now,
        ),
    )
    done = period >= s.periods
    # The next delivery: the next date on the calendar after today (a late one does not pull the next
    # forward onto the same day).
    slot = schedule.first_slot_from(s.anchor_on, s.interval, s.slot + 1, today + timedelta(days=1))
    await repository.move(
        session,
        s,
        repository.DUE,
        status=(S.completed if done else S.active).value,
        delivered_periods=period,
        slot=slot,
        next_delivery_on=None if done else schedule.delivery_on(s.anchor_on, s.interval, slot),
        waiting_since=None,
        updated_at=now,
    )
    await events.emit(
        session,
        "subscription.delivered",
        {
            "subscription_id": s.id,
            "user_id": s.user_id,
            "order_id": order.id,
            "order_no": order.order_no,
            "period": period,
            "periods": s.periods,
        },
        subject=f"subscription/{s.id}",
    )
    return True


async def _wait_for_stock(session: AsyncSession, s: Subscription, period: int) -> bool:
    """The first time a delivery cannot go out: `waiting_for_stock`, and the customer and staff are told.
    Later runs try again quietly until it goes."""
    if s.status == S.waiting_for_stock:
        return False
    now = utcnow()
    await repository.move(
        session, s, (S.active.value,), status=S.waiting_for_stock.value, waiting_since=now, updated_at=now
    )
    assert s.next_delivery_on is not None
    await events.emit(
        session,
        "subscription.waiting_for_stock",
        {
            "subscription_id": s.id,
            "user_id": s.user_id,
            "sku_id": s.sku_id,
            "quantity": s.quantity,
            "period": period,
            "scheduled_on": s.next_delivery_on.isoformat(),
        },
        subject=f"subscription/{s.id}",
    )
    await notifications_service.notify_staff(
        session,
        event_type="subscription.waiting_for_stock",
        key=f"subscription:{s.id}:{period}:stock",
        title="周期购缺货待发",
        body=f"周期购 #{s.id} 第 {period} 期（SKU {s.sku_id} × {s.quantity}）库存不足，补货后将自动发出。",
        link="/admin/subscriptions",
    )
    return True


async def emit_cancelled(session: AsyncSession, s: Subscription) -> None:
    await events.emit(
        session,
        "subscription.cancelled",
        {
            "subscription_id": s.id,
            "user_id": s.user_id,
            "order_id": s.order_id,
            "periods": s.periods,
            "delivered_periods": s.delivered_periods,
            "refund_fen": s.refund_fen or 0,
        },
        subject=f"subscription/{s.id}",
    )
