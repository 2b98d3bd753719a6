"""Orders as their customers see and change them: read, cancel, confirm receipt, ask for a refund
(checkout: app.checkout). Beside it: `moves` (what every status move does besides the move), `staff` (staff
lists and actions), `export` (the staff's CSV/XLSX export), `payment_moves` (the API the payments domain
calls) and `jobs` (the worker's).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.orders import releases, repository
from app.orders.errors import InvalidOrderState, OrderNotFound, RefundRequestLimitReached
from app.orders.models import Order, OrderHistory, OrderItem, OrderStatus
from app.orders.moves import complete as complete_order
from app.orders.moves import emit_cancelled, emit_refund_requested, move_or_conflict, release_stock
from app.orders.schemas import OrderRead
from app.orders.state import Actor
from app.users.models import User

S = OrderStatus


def to_read(order: Order) -> OrderRead:
    """The customer's view of an order; `items` and `history` must be loaded."""
    return OrderRead.model_validate(_read_dict(order, order.items, order.history))


def _read_dict(order: Order, items: Sequence[OrderItem], history: Sequence[OrderHistory]) -> dict[str, Any]:
    return {
        "id": order.id,
        "order_no": order.order_no,
        "kind": order.kind,
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


async def cancel_by_customer(session: AsyncSession, user: User, order_id: int) -> Order:
    order = await get_for_customer(session, user, order_id)
    if order.status != S.pending_payment:
        raise InvalidOrderState(f"Only an unpaid order can be cancelled; this one is {order.status}.")
    await _cancel(session, order, actor=Actor.of(user), reason="cancelled by the buyer")
    return await get_or_raise(session, order.id)


async def _cancel(session: AsyncSession, order: Order, *, actor: Actor, reason: str) -> None:
    await move_or_conflict(
        session, order, S.cancelled, actor=actor, reason=reason, from_statuses=(S.pending_payment,)
    )
    returned = await release_stock(session, order)
    await releases.after_unpaid_cancel(session, [order.id])
    await emit_cancelled(session, order, actor, reason, returned)


async def confirm_receipt(session: AsyncSession, user: User, order_id: int) -> Order:
    order = await get_for_customer(session, user, order_id)
    await complete_order(session, order, actor=Actor.of(user), reason="receipt confirmed by the buyer")
    return await get_or_raise(session, order.id)


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
    if order.status in (S.paid, S.shipped):
        await releases.check_refund_request(session, order)  # a prepaid kind's own rule
    # Two requests at once: one moves the order, the other finds it refunding (409 invalid_order_state).
    await begin_refund(session, order.id, actor=Actor.of(user), reason=reason)
    return await get_or_raise(session, order.id)


async def begin_refund(session: AsyncSession, order_id: int, *, actor: Actor, reason: str) -> Order:
    """paid | shipped → refunding; deposit_paid → refunding where the order's kind allows it
    (app.orders.releases.check_refund_with). Raises InvalidOrderState from any other status."""
    order = await repository.get_plain(session, order_id)
    if order is None:
        raise OrderNotFound("No such order.")
    from_status = order.status
    if from_status == S.deposit_paid:
        await releases.check_refund(session, order)
    await move_or_conflict(
        session,
        order,
        S.refunding,
        actor=actor,
        reason=reason,
        from_statuses=(S.paid, S.shipped, S.deposit_paid),
        values={"refund_reason": reason, "refund_from_status": from_status, "refund_approved_at": None},
    )
    await emit_refund_requested(session, order, reason, from_status)
    return order
