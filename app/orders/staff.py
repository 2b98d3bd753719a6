"""Orders as staff see and change them: the paged list (counted up to a cap), ship with the batches each
line came from, and decide on refund requests (the money itself: app.payments.refunds)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.db import utcnow
from app.kit.time import shop_day_start
from app.orders import parcels, releases, repository
from app.orders.errors import InvalidOrderState
from app.orders.models import Order, OrderStatus
from app.orders.moves import event_base, move_or_conflict
from app.orders.schemas import RefundReject, ShipLine, ShipRequest
from app.orders.service import get_or_raise
from app.orders.state import Actor
from app.traceability import shipments as trace_shipments
from app.users.models import User

S = OrderStatus


def day_bounds(date_from: date | None, date_to: date | None) -> tuple[datetime | None, datetime | None]:
    # The calendar's first and last days have no Beijing midnight in UTC: they bound nothing.
    if date_from is not None and date_from <= date.min + timedelta(days=1):
        date_from = None
    if date_to is not None and date_to >= date.max - timedelta(days=1):
        date_to = None
    start = shop_day_start(date_from) if date_from else None
    end = shop_day_start(date_to + timedelta(days=1)) if date_to else None
    return start, end


# Staff lists count exactly up to this many orders; beyond it the total is "more than" (total_exact false)
# and pages are reached by cursor: an exact count of a million orders on every page cost more than the page.
STAFF_COUNT_CAP = 10_000


async def list_for_staff(
    session: AsyncSession,
    *,
    status: OrderStatus | None,
    date_from: date | None,
    date_to: date | None,
    phone: str | None,
    offset: int,
    limit: int,
    before_id: int | None = None,
) -> tuple[Sequence[tuple[Order, str]], int, bool]:
    """(rows, total, total_exact): the total counts up to STAFF_COUNT_CAP, then is STAFF_COUNT_CAP and
    not exact."""
    created_from, created_before = day_bounds(date_from, date_to)
    filters = {
        "status": status,
        "created_from": created_from,
        "created_before": created_before,
        "phone": phone,
    }
    rows = await repository.list_for_staff(
        session, **filters, offset=offset, limit=limit, before_id=before_id
    )
    counted = await repository.count_for_staff(session, **filters, cap=STAFF_COUNT_CAP)
    return rows, min(counted, STAFF_COUNT_CAP), counted <= STAFF_COUNT_CAP


async def buyer_phone(session: AsyncSession, order: Order) -> str:
    return await repository.buyer_phone(session, order.user_id)


async def ship(session: AsyncSession, staff: User, order_id: int, data: ShipRequest) -> Order:
    order = await get_or_raise(session, order_id)
    shipper = parcels.shipper_for(order.kind)
    if shipper is not None:
        # One parcel of an order shipped per recipient; the order's row locked so that two parcels shipped at
        # once see each other (the last one moves the order to shipped).
        # The shipper checks the order's status (a parcel shipped twice is its own answer).
        await repository.lock_order(session, order.id)
        order = await get_or_raise(session, order_id)
        await shipper(session, staff, order, data)
        return await get_or_raise(session, order.id)
    if data.recipient_index is not None:
        raise InvalidOrderState("recipient_index is only for orders shipped per recipient (custom orders).")
    if order.status == S.paid:
        await releases.check_ship(session, order)  # a pre-sale: not before ships_from, stock taken now
    await mark_shipped(session, staff, order, data.carrier, data.tracking_no)
    await _record_batches(session, order, data.lines)
    return await get_or_raise(session, order.id)


async def mark_shipped(
    session: AsyncSession, staff: User, order: Order, carrier: str, tracking_no: str
) -> None:
    """The order's move to shipped (from paid) with its order.shipped event."""
    data = ShipRequest(carrier=carrier, tracking_no=tracking_no)  # type: ignore[arg-type]
    await move_or_conflict(
        session,
        order,
        S.shipped,
        actor=Actor.of(staff),
        reason=f"shipped with {data.carrier} {data.tracking_no}",
        from_statuses=(S.paid,),
        values={"carrier": data.carrier, "tracking_no": data.tracking_no},
    )
    await events.emit(
        session,
        "order.shipped",
        {
            **event_base(order),
            "carrier": data.carrier,
            "tracking_no": data.tracking_no,
            "shipped_at": (order.shipped_at or utcnow()).isoformat(),
        },
        subject=f"order/{order.id}",
    )


async def _record_batches(session: AsyncSession, order: Order, lines: list[ShipLine] | None) -> None:
    """Which batch each shipped line came from: a batch given per line, otherwise the oldest batch of the
    product with quantity left, or none without batches (traceability records it, for recalls)."""
    await trace_shipments.record_shipment(
        session,
        order.id,
        await repository.shipment_lines(session, order.id),
        [(line.order_item_id, line.sku_id, line.batch_id) for line in lines or []],
    )


async def approve_refund_request(session: AsyncSession, staff: User, order_id: int) -> Order:
    """Staff approve a refund request: the decision only (payments.approve_refund gives the money back and
    calls `complete_refund` when it is back). Raises InvalidOrderState unless a request is waiting."""
    order = await get_or_raise(session, order_id)
    if order.status != S.refunding or order.refund_approved_at is not None:
        raise InvalidOrderState(
            f"There is no refund request waiting for approval; the order is {order.status}."
        )
    if not await repository.approve_refund_once(session, order.id, utcnow()):
        raise InvalidOrderState("The order changed meanwhile; reload it and try again.")
    return order


async def reject_refund(session: AsyncSession, staff: User, order_id: int, data: RefundReject) -> Order:
    order = await get_or_raise(session, order_id)
    back_to = order.refund_from_status
    if (
        order.status != S.refunding
        or order.refund_approved_at is not None
        or back_to not in (S.paid, S.shipped, S.deposit_paid)
    ):
        # A refund of a payment that came after cancellation cannot be refused: the goods were never sold.
        raise InvalidOrderState(
            f"There is no refund request that can be rejected; the order is {order.status}."
        )
    await move_or_conflict(
        session,
        order,
        S(back_to),
        actor=Actor.of(staff),
        reason=f"refund rejected: {data.reason}",
        from_statuses=(S.refunding,),
    )
    await events.emit(
        session,
        "order.refund_rejected",
        {**event_base(order), "reason": data.reason, "status": back_to, "rejected_at": utcnow().isoformat()},
        subject=f"order/{order.id}",
    )
    return await get_or_raise(session, order.id)
