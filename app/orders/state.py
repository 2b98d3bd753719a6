"""The order state machine: the only place an order's status changes.

    pending_payment → paid → shipped → completed
    pending_payment → cancelled                     (buyer, or the worker at pay_deadline)
    pending_payment → deposit_paid → paid           (a pre-sale: the deposit, then the balance)
    deposit_paid    → cancelled | refunding         (balance unpaid at its end: deposit kept | refunded)
    paid | shipped  → refunding → refunded          (refund requested, approved)
    refunding       → paid | shipped | deposit_paid (refund request rejected: back where it came from)
    cancelled       → refunding → refunded          (a payment arrived after the cancellation)

Every move is a conditional UPDATE on the status the caller saw (`WHERE id = :id AND status = :from`), so
two actors racing for one order cannot both win, and every move writes one history row and the dashboard's
figures (app.orders.stats) in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.kit import metrics
from app.orders import stats
from app.orders.errors import InvalidOrderState
from app.orders.models import Order, OrderHistory, OrderStatus

S = OrderStatus

ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.pending_payment: frozenset({S.paid, S.cancelled, S.deposit_paid}),
    S.deposit_paid: frozenset({S.paid, S.cancelled, S.refunding}),
    S.paid: frozenset({S.shipped, S.refunding}),
    S.shipped: frozenset({S.completed, S.refunding}),
    S.completed: frozenset(),
    S.cancelled: frozenset({S.refunding}),
    S.refunding: frozenset({S.refunded, S.paid, S.shipped, S.deposit_paid}),
    S.refunded: frozenset(),
}

# The timestamp column each target status stamps.
_STAMPS = {
    S.paid: "paid_at",
    S.shipped: "shipped_at",
    S.completed: "completed_at",
    S.cancelled: "cancelled_at",
    S.refunded: "refunded_at",
}


@dataclass(frozen=True)
class Actor:
    """Who moves an order: a user (customer or staff) or the system (worker, payment gateway)."""

    user_id: int | None
    role: str

    @classmethod
    def system(cls) -> Actor:
        return cls(None, "system")

    @classmethod
    def of(cls, user: Any) -> Actor:
        return cls(user.id, user.role)


SYSTEM = Actor.system()


async def transition(
    session: AsyncSession,
    order: Order,
    to_status: OrderStatus,
    *,
    actor: Actor,
    reason: str = "",
    at: datetime | None = None,
    values: dict[str, Any] | None = None,
    from_statuses: tuple[OrderStatus, ...] | None = None,
) -> bool:
    """Move `order` from its current status to `to_status`.

    Raises InvalidOrderState when the move is not allowed from the status the caller sees (or is not in
    `from_statuses`). Returns False when someone else changed the order first (the conditional UPDATE
    matched nothing); the caller decides whether that is an error. On success, `order` is updated in place.
    """
    from_status = OrderStatus(order.status)
    allowed_from = from_statuses or tuple(ALLOWED)
    if from_status not in allowed_from or to_status not in ALLOWED[from_status]:
        raise InvalidOrderState(f"An order that is {from_status.value} cannot become {to_status.value}.")
    at = at or utcnow()
    changes: dict[str, Any] = {"status": to_status.value, "updated_at": at}
    stamp = _STAMPS.get(to_status)
    if stamp and getattr(order, stamp) is None:
        changes[stamp] = at
    changes.update(values or {})
    result = await session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == from_status.value)
        .values(**changes)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    metrics.order_moved(to_status.value)
    for key, value in changes.items():
        set_committed(order, key, value)
    session.add(
        OrderHistory(
            order_id=order.id,
            from_status=from_status.value,
            to_status=to_status.value,
            actor_id=actor.user_id,
            actor_role=actor.role,
            reason=reason[:500],
            created_at=at,
        )
    )
    # The dashboard's figures move in the same transaction (app.orders.stats).
    await stats.add(session, stats.moved(order.created_at, order.total_fen, from_status, to_status))
    await session.flush()
    return True


def set_committed(order: Order, key: str, value: Any) -> None:
    """Reflect a value written by a Core UPDATE on the loaded object without marking it dirty."""
    from sqlalchemy.orm.attributes import set_committed_value

    set_committed_value(order, key, value)
