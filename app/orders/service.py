"""Order actions for customers and staff, and the API the payments domain calls (checkout: app.checkout).

Status changes go through `app.orders.state.transition` only. Stock moves with conditional UPDATEs in
ascending SKU id order (so overlapping multi-line orders never wait on each other in a cycle) and goes back
at most once per order (`stock_released_at`, claimed by a conditional UPDATE).
"""

from __future__ import annotations

import csv
import enum
import io
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.config import get_settings
from app.db import session_scope, utcnow
from app.kit.money import fen_to_yuan
from app.kit.time import format_shop_time, shop_day_start
from app.orders import repository
from app.orders.errors import (
    AmountMismatch,
    InvalidOrderState,
    OrderNotFound,
    RefundRequestLimitReached,
)
from app.orders.models import Order, OrderHistory, OrderItem, OrderStatus
from app.orders.schemas import OrderRead, RefundReject, ShipLine, ShipRequest
from app.orders.state import SYSTEM, Actor, transition
from app.users.models import User

log = logging.getLogger("daoxiang.orders")

S = OrderStatus


# ---------------------------------------------------------------------------------------------- reading


def to_read(order: Order) -> OrderRead:
    """The customer's view of an order; `items` and `history` must be loaded."""
    return OrderRead.model_validate(_read_dict(order, order.items, order.history))


def _read_dict(order: Order, items: Sequence[OrderItem], history: Sequence[OrderHistory]) -> dict[str, Any]:
    return {
        "id": order.id,
        "order_no": order.order_no,
        "status": order.status,
        "items": items,
        "subtotal_fen": order.subtotal_fen,
        "shipping_fen": order.shipping_fen,
        "discount_fen": order.discount_fen,
        "total_fen": order.total_fen,
        "coupon_code": order.coupon_code,
        "note": order.note,
        "address": order.address,
        "pay_deadline": order.pay_deadline,
        "created_at": order.created_at,
        "paid_at": order.paid_at,
        "shipped_at": order.shipped_at,
        "completed_at": order.completed_at,
        "cancelled_at": order.cancelled_at,
        "refunded_at": order.refunded_at,
        "refund_reason": order.refund_reason,
        "shipment": (
            {"carrier": order.carrier, "tracking_no": order.tracking_no}
            if order.carrier is not None
            else None
        ),
        "history": [
            placed_entry(order.user_id, order.created_at),
            *(
                {
                    "from_status": h.from_status,
                    "to_status": h.to_status,
                    "actor_id": h.actor_id,
                    "actor_role": h.actor_role,
                    "reason": h.reason,
                    "at": h.created_at,
                }
                for h in history
            ),
        ],
    }


def placed_entry(user_id: int, created_at: datetime) -> dict[str, Any]:
    """The first history entry. Placing is not a transition, so it is not stored: the order row itself
    says who placed it and when (one INSERT fewer on the hottest path)."""
    return {
        "from_status": None,
        "to_status": S.pending_payment.value,
        "actor_id": user_id,
        "actor_role": "customer",
        "reason": "order placed",
        "at": created_at,
    }


async def get_for_customer(session: AsyncSession, user: User, order_id: int) -> Order:
    order = await repository.get(session, order_id, user_id=user.id)
    if order is None:
        raise OrderNotFound("No such order.")
    return order


async def get_or_raise(session: AsyncSession, order_id: int) -> Order:
    order = await repository.get(session, order_id)
    if order is None:
        raise OrderNotFound("No such order.")
    return order


async def list_for_customer(
    session: AsyncSession, user: User, status: OrderStatus | None, offset: int, limit: int
) -> tuple[Sequence[Order], int]:
    return await repository.list_for_user(session, user.id, status, offset, limit)


def _event_base(order: Order) -> dict[str, Any]:
    return {"order_id": order.id, "order_no": order.order_no, "user_id": order.user_id}


# ---------------------------------------------------------------------------------------------- stock


async def release_stock(session: AsyncSession, order: Order) -> bool:
    """Put an order's reserved stock back, at most once per order. True when this call returned it."""
    return order.id in await _release_stock_of(session, [order.id])


async def _release_stock_of(session: AsyncSession, order_ids: Sequence[int]) -> set[int]:
    """Return the stock of several orders at once, SKUs in ascending id order (as checkout takes them, so
    the two never wait on each other in a cycle). Returns the ids whose stock this call put back."""
    now = utcnow()
    released = {oid for oid in order_ids if await repository.claim_stock_release(session, oid, now)}
    quantities: dict[int, int] = defaultdict(int)
    for item in await repository.items_of(session, sorted(released)):
        quantities[item.sku_id] += item.quantity
    await repository.put_back_stock(session, quantities)
    return released


async def _adjust_sales(session: AsyncSession, order_id: int, sign: int) -> None:
    by_product: dict[int, int] = defaultdict(int)
    for item in await repository.items_of(session, [order_id]):
        by_product[item.product_id] += sign * item.quantity
    await repository.add_sales(session, by_product)


# ---------------------------------------------------------------------------------------------- customer


async def _move_or_conflict(session: AsyncSession, order: Order, to: OrderStatus, **kwargs: Any) -> None:
    if not await transition(session, order, to, **kwargs):
        raise InvalidOrderState("The order changed meanwhile; reload it and try again.")


async def cancel_by_customer(session: AsyncSession, user: User, order_id: int) -> Order:
    order = await get_for_customer(session, user, order_id)
    if order.status != S.pending_payment:
        raise InvalidOrderState(f"Only an unpaid order can be cancelled; this one is {order.status}.")
    await _cancel(session, order, actor=Actor.of(user), reason="cancelled by the buyer")
    return await get_or_raise(session, order.id)


async def _cancel(session: AsyncSession, order: Order, *, actor: Actor, reason: str) -> None:
    await _move_or_conflict(
        session, order, S.cancelled, actor=actor, reason=reason, from_statuses=(S.pending_payment,)
    )
    returned = await release_stock(session, order)
    await _emit_cancelled(session, order, actor, reason, returned)


async def _emit_cancelled(
    session: AsyncSession, order: Order, actor: Actor, reason: str, returned: bool
) -> None:
    await events.emit(
        session,
        "order.cancelled",
        {
            **_event_base(order),
            "reason": reason,
            "by": actor.role,
            "stock_returned": returned,
            "cancelled_at": (order.cancelled_at or utcnow()).isoformat(),
        },
        subject=f"order/{order.id}",
    )


async def confirm_receipt(session: AsyncSession, user: User, order_id: int) -> Order:
    order = await get_for_customer(session, user, order_id)
    await _complete(session, order, actor=Actor.of(user), reason="receipt confirmed by the buyer")
    return await get_or_raise(session, order.id)


async def _complete(session: AsyncSession, order: Order, *, actor: Actor, reason: str) -> bool:
    if not await transition(session, order, S.completed, actor=actor, reason=reason):
        if actor != SYSTEM:
            raise InvalidOrderState("The order changed meanwhile; reload it and try again.")
        return False
    await events.emit(
        session,
        "order.completed",
        {
            **_event_base(order),
            "by": actor.role,
            "completed_at": (order.completed_at or utcnow()).isoformat(),
        },
        subject=f"order/{order.id}",
    )
    return True


def refund_requests_made(history: Sequence[Any]) -> int:
    """The customer's refund requests in an order's history (rows or read entries): each a move from paid or
    shipped to refunding (a payment that came after cancellation is refunded without a request)."""
    return sum(
        1
        for h in history
        if str(h.to_status) == S.refunding and str(h.from_status) in (S.paid.value, S.shipped.value)
    )


async def request_refund(session: AsyncSession, user: User, order_id: int, reason: str) -> Order:
    """A rejected request may be followed by another, up to MAX_REFUND_REQUESTS_PER_ORDER in all: past that
    the customer talks to the shop (no request → reject loop without end)."""
    order = await get_for_customer(session, user, order_id)
    limit = get_settings().max_refund_requests_per_order
    if refund_requests_made(order.history) >= limit:
        raise RefundRequestLimitReached(
            f"This order already had {limit} refund requests; please contact customer service.", limit=limit
        )
    # Two requests at once: one moves the order, the other finds it refunding (409 invalid_order_state).
    await begin_refund(session, order.id, actor=Actor.of(user), reason=reason)
    return await get_or_raise(session, order.id)


# ---------------------------------------------------------------------------------------------- staff


def _day_bounds(date_from: date | None, date_to: date | None) -> tuple[datetime | None, datetime | None]:
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
    created_from, created_before = _day_bounds(date_from, date_to)
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
    await _move_or_conflict(
        session,
        order,
        S.shipped,
        actor=Actor.of(staff),
        reason=f"shipped with {data.carrier} {data.tracking_no}",
        from_statuses=(S.paid,),
        values={"carrier": data.carrier, "tracking_no": data.tracking_no},
    )
    await _record_batches(session, order, data.lines)
    await events.emit(
        session,
        "order.shipped",
        {
            **_event_base(order),
            "carrier": data.carrier,
            "tracking_no": data.tracking_no,
            "shipped_at": (order.shipped_at or utcnow()).isoformat(),
        },
        subject=f"order/{order.id}",
    )
    return await get_or_raise(session, order.id)


async def _record_batches(session: AsyncSession, order: Order, lines: list[ShipLine] | None) -> None:
    """Which batch each shipped line came from: a batch given per line, otherwise the oldest batch of the
    product with quantity left, or none without batches (traceability records it, for recalls)."""
    from app.traceability import shipments as trace_shipments

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
        or back_to not in (S.paid, S.shipped)
    ):
        # A refund of a payment that came after cancellation cannot be refused: the goods were never sold.
        raise InvalidOrderState(
            f"There is no refund request that can be rejected; the order is {order.status}."
        )
    await _move_or_conflict(
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
        {**_event_base(order), "reason": data.reason, "status": back_to, "rejected_at": utcnow().isoformat()},
        subject=f"order/{order.id}",
    )
    return await get_or_raise(session, order.id)


CSV_COLUMNS = [
    "order_no",
    "created_at",
    "status",
    "buyer_phone",
    "recipient",
    "recipient_phone",
    "address",
    "items",
    "subtotal_yuan",
    "shipping_yuan",
    "discount_yuan",
    "total_yuan",
    "paid_at",
    "carrier",
    "tracking_no",
    "note",
]
# Orders read per transaction while exporting: each chunk is a short read, so an export of a million orders
# holds no transaction open and the rows in memory are one chunk's, however large the export.
EXPORT_CHUNK = 1000


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheet formula injection: a cell that starts like a formula is kept as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _local(at: datetime | None) -> str:
    return "" if at is None else format_shop_time(at)


def export_row(order: Any, phone: str, lines: Sequence[Any]) -> list[str]:
    """One order (a row of the orders table) as the cells of CSV_COLUMNS (formula-looking text kept as
    text)."""
    a = order.address
    return [
        _csv_cell(v)
        for v in (
            order.order_no,
            _local(order.created_at),
            order.status,
            phone,
            a.get("recipient"),
            a.get("phone"),
            f"{a.get('province', '')}{a.get('city', '')}{a.get('district', '')}{a.get('detail', '')}",
            "; ".join(f"{i.name} x{i.quantity}" for i in lines),
            fen_to_yuan(order.subtotal_fen),
            fen_to_yuan(order.shipping_fen),
            fen_to_yuan(order.discount_fen),
            fen_to_yuan(order.total_fen),
            _local(order.paid_at),
            order.carrier,
            order.tracking_no,
            order.note,
        )
    ]


async def export_rows(
    date_from: date | None, date_to: date | None, upto: int | None = None
) -> AsyncIterator[list[list[str]]]:
    """Every order placed in the range (up to order `upto`, default the newest now), oldest first, as
    chunks of rows: keyset by id, each chunk read in its own short session (the request's session is not
    held while the file streams)."""
    created_from, created_before = _day_bounds(date_from, date_to)
    if upto is None:
        async with session_scope() as session:
            upto = await repository.newest_id(session)
    after = 0
    while True:
        async with session_scope() as session:
            rows = await repository.export_chunk(
                session, created_from, created_before, after, upto, EXPORT_CHUNK
            )
        if not rows:
            return
        after = rows[-1][0].id
        yield [export_row(order, phone, lines) for order, phone, lines in rows]


async def export_csv(date_from: date | None, date_to: date | None) -> AsyncIterator[bytes]:
    """The export as CSV, UTF-8 with a BOM (so Excel reads the Chinese right), streamed chunk by chunk."""
    yield ("\ufeff" + csv_text([CSV_COLUMNS])).encode("utf-8")
    async for chunk in export_rows(date_from, date_to):
        yield csv_text(chunk).encode("utf-8")


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


async def export_count(session: AsyncSession, date_from: date | None, date_to: date | None, upto: int) -> int:
    """How many orders an export of the range up to order `upto` holds (a background export's total)."""
    created_from, created_before = _day_bounds(date_from, date_to)
    return await repository.export_count(session, created_from, created_before, upto)


async def export_xlsx(date_from: date | None, date_to: date | None) -> AsyncIterator[bytes]:
    """The export as .xlsx: openpyxl's write-only workbook keeps rows in a temporary file, not in memory;
    each chunk is appended in a worker thread so the event loop keeps serving. The zip can only be sent
    once it is complete, so the first byte comes at the end."""
    import tempfile

    import anyio
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("orders")
    sheet.append(CSV_COLUMNS)

    def append(rows: list[list[str]]) -> None:
        for row in rows:
            sheet.append(row)

    async for chunk in export_rows(date_from, date_to):
        await anyio.to_thread.run_sync(append, chunk)
    with tempfile.TemporaryFile() as spool:
        await anyio.to_thread.run_sync(workbook.save, spool)
        spool.seek(0)
        while block := await anyio.to_thread.run_sync(spool.read, 1 << 16):
            yield block


# ---------------------------------------------------------------------------------------------- payments API


class PaymentApplied(enum.StrEnum):
    paid = "paid"  # pending_payment → paid
    late = "late"  # cancelled → refunding: the money came after the cancellation and must go back
    duplicate = "duplicate"  # nothing changed: this payment was already applied

    @property
    def changed(self) -> bool:
        return self is not PaymentApplied.duplicate


async def mark_paid(
    session: AsyncSession, order_id: int, *, amount_fen: int, paid_at: datetime, actor: Actor = SYSTEM
) -> PaymentApplied:
    """Apply a confirmed payment (for the payments domain). Safe to call again with the same payment.

    Raises OrderNotFound, or AmountMismatch (nothing changed) when `amount_fen` is not the order's total.
    """
    for _ in range(3):
        order = await repository.get_plain(session, order_id)
        if order is None:
            raise OrderNotFound("No such order.")
        if amount_fen != order.total_fen:
            raise AmountMismatch(f"Paid {amount_fen} fen, but the order's total is {order.total_fen} fen.")
        if order.status == S.pending_payment:
            if await transition(
                session,
                order,
                S.paid,
                actor=actor,
                reason="payment received",
                values={"paid_at": paid_at, "paid_amount_fen": amount_fen},
            ):
                await _adjust_sales(session, order.id, +1)
                await events.emit(
                    session,
                    "order.paid",
                    {**_event_base(order), "amount_fen": amount_fen, "paid_at": paid_at.isoformat()},
                    subject=f"order/{order.id}",
                )
                return PaymentApplied.paid
            continue  # changed under us (cancelled by the worker?): look again
        if order.status == S.cancelled and order.paid_at is None:
            reason = "payment arrived after the order was cancelled"
            if await transition(
                session,
                order,
                S.refunding,
                actor=actor,
                reason=reason,
                values={
                    "paid_at": paid_at,
                    "paid_amount_fen": amount_fen,
                    "refund_from_status": S.cancelled.value,
                    "refund_reason": reason,
                },
            ):
                await _emit_refund_requested(session, order, reason, S.cancelled)
                return PaymentApplied.late
            continue
        return PaymentApplied.duplicate
    return PaymentApplied.duplicate


async def _emit_refund_requested(session: AsyncSession, order: Order, reason: str, from_status: str) -> None:
    await events.emit(
        session,
        "order.refund_requested",
        {
            **_event_base(order),
            "reason": reason,
            "from_status": str(from_status),
            "amount_fen": order.paid_amount_fen or 0,
            "requested_at": utcnow().isoformat(),
        },
        subject=f"order/{order.id}",
    )


async def begin_refund(session: AsyncSession, order_id: int, *, actor: Actor, reason: str) -> Order:
    """paid | shipped → refunding. Raises InvalidOrderState from any other status."""
    order = await repository.get_plain(session, order_id)
    if order is None:
        raise OrderNotFound("No such order.")
    from_status = order.status
    await _move_or_conflict(
        session,
        order,
        S.refunding,
        actor=actor,
        reason=reason,
        from_statuses=(S.paid, S.shipped),
        values={"refund_reason": reason, "refund_from_status": from_status, "refund_approved_at": None},
    )
    await _emit_refund_requested(session, order, reason, from_status)
    return order


async def complete_refund(
    session: AsyncSession, order_id: int, *, actor: Actor = SYSTEM, reason: str = ""
) -> bool:
    """refunding → refunded once the money is back. Returns stock when nothing was shipped (and it was not
    returned already at cancellation). False when the order was already refunded (a repeated callback)."""
    order = await repository.get_plain(session, order_id)
    if order is None:
        raise OrderNotFound("No such order.")
    if order.status == S.refunded:
        return False
    if not await transition(
        session,
        order,
        S.refunded,
        actor=actor,
        reason=reason or "refund completed",
        from_statuses=(S.refunding,),
    ):
        return False
    returned = False
    if order.shipped_at is None:
        returned = await release_stock(session, order)
    if order.refund_from_status in (S.paid, S.shipped):
        await _adjust_sales(session, order.id, -1)
    await events.emit(
        session,
        "order.refunded",
        {
            **_event_base(order),
            "amount_fen": order.paid_amount_fen or 0,
            "stock_returned": returned,
            "refunded_at": (order.refunded_at or utcnow()).isoformat(),
        },
        subject=f"order/{order.id}",
    )
    return True


# ---------------------------------------------------------------------------------------------- jobs

JOB_BATCH = 200


async def cancel_expired(session: AsyncSession) -> int:
    """Cancel unpaid orders whose pay_deadline has passed and put their stock back (exactly once, however
    many workers run this at the same time: the status change and the stock return are both conditional)."""
    ids = await repository.due_ids(session, S.pending_payment, Order.pay_deadline, utcnow(), JOB_BATCH)
    reason = "not paid before the deadline"
    cancelled: list[Order] = []
    for order_id in ids:
        order = await repository.get_plain(session, order_id)
        if order is None or order.status != S.pending_payment:
            continue
        if await transition(
            session, order, S.cancelled, actor=SYSTEM, reason=reason, from_statuses=(S.pending_payment,)
        ):
            cancelled.append(order)
    returned = await _release_stock_of(session, [o.id for o in cancelled])
    for order in cancelled:
        await _emit_cancelled(session, order, SYSTEM, reason, order.id in returned)
    return len(cancelled)


async def auto_confirm(session: AsyncSession) -> int:
    """Complete orders shipped more than AUTO_CONFIRM_DAYS ago."""
    before = utcnow() - timedelta(days=get_settings().auto_confirm_days)
    ids = await repository.due_ids(session, S.shipped, Order.shipped_at, before, JOB_BATCH)
    completed = 0
    for order_id in ids:
        order = await repository.get_plain(session, order_id)
        if order is None or order.status != S.shipped:
            continue
        if await _complete(
            session,
            order,
            actor=SYSTEM,
            reason=f"confirmed automatically after {get_settings().auto_confirm_days:g} days",
        ):
            completed += 1
    return completed
