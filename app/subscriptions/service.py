"""Subscriptions as customers and staff see and change them: subscribe (the prepaid order, through the one
pipeline), read with the schedule, pause, resume, skip, change the address. Cancelling with its refund is in
app.subscriptions.cancel; the worker's deliveries in app.subscriptions.tasks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.checkout import service as checkout_service
from app.db import utcnow
from app.kit.time import shop_today
from app.orders.errors import InvalidOrderState
from app.orders.schemas import OrderCreate
from app.subscriptions import repository, schedule
from app.subscriptions.errors import InvalidSubscriptionState, SubscriptionNotFound
from app.subscriptions.kind import SUBSCRIPTION, SubscriptionOffer
from app.subscriptions.models import Subscription, SubscriptionDelivery, SubscriptionStatus
from app.subscriptions.schemas import DeliveryRead, SubscriptionCreate, SubscriptionRead, UpcomingDelivery
from app.users import repository as users_repository
from app.users.errors import AddressNotFound
from app.users.models import Principal, User

S = SubscriptionStatus
RUNNING = (S.active.value, S.waiting_for_stock.value, S.paused.value)


def today() -> date:
    return shop_today(utcnow())


async def subscribe(
    session: AsyncSession, user: User | Principal, data: SubscriptionCreate, *, idempotency_key: str | None
) -> Subscription:
    """The prepaid order (kind subscription) and the subscription with it, pending payment. With an
    Idempotency-Key a repeat gets the same subscription."""
    offer = SubscriptionOffer(data)
    placed = await checkout_service.place_order(
        session,
        user,
        OrderCreate(address_id=data.address_id),
        idempotency_key=idempotency_key,
        kind=SUBSCRIPTION,
        store=checkout_service.OrmBackend(),
        offer=offer,
    )
    subscription = await repository.by_order(session, placed.order["id"])
    assert subscription is not None
    return subscription


async def get_for_customer(
    session: AsyncSession, user: User, subscription_id: int, *, lock: bool = False
) -> Subscription:
    subscription = await repository.get(session, subscription_id, user_id=user.id, lock=lock)
    if subscription is None:
        raise SubscriptionNotFound("No such subscription.")
    return subscription


async def get_or_raise(session: AsyncSession, subscription_id: int) -> Subscription:
    subscription = await repository.get(session, subscription_id)
    if subscription is None:
        raise SubscriptionNotFound("No such subscription.")
    return subscription


async def list_for_customer(
    session: AsyncSession, user: User, offset: int, limit: int
) -> tuple[list[SubscriptionRead], int]:
    rows, total = await repository.list_for_user(session, user.id, offset, limit)
    return await reads(session, rows), total


async def list_for_staff(
    session: AsyncSession, status: SubscriptionStatus | None, offset: int, limit: int
) -> tuple[list[SubscriptionRead], int]:
    rows, total = await repository.list_for_staff(session, status.value if status else None, offset, limit)
    return await reads(session, rows), total


async def upcoming(session: AsyncSession, days: int) -> list[UpcomingDelivery]:
    """Staff: the deliveries due from today to `days` days on (and any overdue: waiting for stock), soonest
    first, to pack."""
    until = date.fromordinal(today().toordinal() + days)
    return [
        UpcomingDelivery(
            subscription_id=s.id,
            user_id=s.user_id,
            sku_id=s.sku_id,
            quantity=s.quantity,
            period=s.delivered_periods + 1,
            scheduled_on=s.next_delivery_on,
            status=s.status,
        )
        for s in await repository.upcoming(session, until, 500)
        if s.next_delivery_on is not None
    ]


async def read(session: AsyncSession, subscription: Subscription) -> SubscriptionRead:
    return (await reads(session, [subscription]))[0]


async def reads(session: AsyncSession, rows: Sequence[Subscription]) -> list[SubscriptionRead]:
    delivered: dict[int, list[SubscriptionDelivery]] = {}
    for delivery in await repository.deliveries_of(session, [s.id for s in rows]):
        delivered.setdefault(delivery.subscription_id, []).append(delivery)
    return [_read(s, delivered.get(s.id, [])) for s in rows]


def _read(s: Subscription, delivered: list[SubscriptionDelivery]) -> SubscriptionRead:
    return SubscriptionRead.model_validate(
        {
            **{k: getattr(s, k) for k in SubscriptionRead.model_fields if hasattr(s, k)},
            "deliveries": [
                DeliveryRead(
                    period=d.period, scheduled_on=d.scheduled_on, status="placed", order_id=d.order_id
                )
                for d in delivered
            ],
            "schedule": upcoming_schedule(s),
        }
    )


def upcoming_schedule(s: Subscription) -> list[DeliveryRead]:
    """The periods still to come on their dates; the first one shows why it waits, if it does."""
    if s.anchor_on is None or s.status not in RUNNING:
        return []
    first_status: Any = {"waiting_for_stock": "waiting_for_stock", "paused": "paused"}.get(
        s.status, "scheduled"
    )
    return [
        DeliveryRead(
            period=s.delivered_periods + 1 + i,
            scheduled_on=schedule.delivery_on(s.anchor_on, s.interval, s.slot + i),
            status=first_status if i == 0 else ("paused" if s.status == S.paused else "scheduled"),
        )
        for i in range(s.periods - s.delivered_periods)
    ]


async def _changed(session: AsyncSession, s: Subscription, action: str) -> None:
    await events.emit(
        session,
        "subscription.changed",
        {
            "subscription_id": s.id,
            "user_id": s.user_id,
            "action": action,
            "status": s.status,
            "address_id": s.address_id,
            "next_delivery_on": s.next_delivery_on.isoformat() if s.next_delivery_on else None,
        },
        subject=f"subscription/{s.id}",
    )


def _refuse(s: Subscription, action: str) -> InvalidSubscriptionState:
    return InvalidSubscriptionState(
        f"A subscription that is {s.status} cannot be {action}.", subscription_status=s.status
    )


async def pause(session: AsyncSession, user: User, subscription_id: int) -> Subscription:
    s = await get_for_customer(session, user, subscription_id, lock=True)
    now = utcnow()
    if s.status not in (S.active, S.waiting_for_stock) or not await repository.move(
        session, s, (S.active.value, S.waiting_for_stock.value), status=S.paused.value, updated_at=now
    ):
        raise _refuse(s, "paused")
    await _changed(session, s, "paused")
    return s


async def resume(session: AsyncSession, user: User, subscription_id: int) -> Subscription:
    """Paused → active; the next delivery is the first on the calendar from today on (the deliveries the
    pause passed over are not lost: every prepaid period is still delivered, later)."""
    s = await get_for_customer(session, user, subscription_id, lock=True)
    if s.status != S.paused:
        raise _refuse(s, "resumed")
    assert s.anchor_on is not None
    slot = schedule.first_slot_from(s.anchor_on, s.interval, s.slot, today())
    await repository.move(
        session,
        s,
        (S.paused.value,),
        status=S.active.value,
        slot=slot,
        next_delivery_on=schedule.delivery_on(s.anchor_on, s.interval, slot),
        waiting_since=None,
        updated_at=utcnow(),
    )
    await _changed(session, s, "resumed")
    return s


async def skip(session: AsyncSession, user: User, subscription_id: int) -> Subscription:
    """The next delivery moves one interval later (so do the ones after it); nothing is lost."""
    s = await get_for_customer(session, user, subscription_id, lock=True)
    if s.status not in (S.active, S.paused) or s.delivered_periods >= s.periods:
        raise _refuse(s, "skipped")
    assert s.anchor_on is not None
    slot = s.slot + 1
    await repository.move(
        session,
        s,
        (s.status,),
        slot=slot,
        next_delivery_on=schedule.delivery_on(s.anchor_on, s.interval, slot),
        updated_at=utcnow(),
    )
    await _changed(session, s, "skipped")
    return s


async def change_address(
    session: AsyncSession, user: User, subscription_id: int, address_id: int
) -> Subscription:
    s = await get_for_customer(session, user, subscription_id, lock=True)
    if s.status in (S.completed, S.cancelled):
        raise _refuse(s, "changed")
    if await users_repository.get_address(session, user.id, address_id) is None:
        raise AddressNotFound("No such address.")
    await repository.move(session, s, (s.status,), address_id=address_id, updated_at=utcnow())
    await _changed(session, s, "address_changed")
    return s


async def nothing_reserved(session: AsyncSession, order_ids: Sequence[int]) -> None:
    """A subscription's order reserves nothing (each delivery takes its own stock): orders' release for the
    kind, registered by app.flows.order_kinds."""


async def refuse_shipping(session: AsyncSession, order: Any) -> None:
    """A subscription's order is not shipped: each period goes out as its own delivery order (orders' ship
    check for the kind, registered by app.flows.order_kinds)."""
    raise InvalidOrderState(
        "A subscription is not shipped itself: each period ships as its own delivery order.",
        order_id=order.id,
    )


async def refuse_refund_request(session: AsyncSession, order: Any) -> None:
    """A subscription is refunded by cancelling it, which refunds exactly the periods not delivered; a refund
    request of the prepaid order would give back the delivered periods too."""
    raise InvalidOrderState(
        "A subscription is refunded by cancelling it (POST /api/subscriptions/{id}/cancel): the periods not "
        "delivered are refunded.",
        order_id=order.id,
    )
