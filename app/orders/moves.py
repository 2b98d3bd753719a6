"""What an order's status moves do besides the move itself, shared by customers', staff's, the payments
domain's and the jobs' actions: stock back at most once, sales counts, the order's events.

Status changes go through `app.orders.state.transition` only. Stock moves with conditional UPDATEs in
ascending SKU id order (so overlapping multi-line orders never wait on each other in a cycle) and goes back
at most once per order (`stock_released_at`, claimed by a conditional UPDATE).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.db import utcnow
from app.orders import releases, repository
from app.orders.errors import InvalidOrderState
from app.orders.models import Order, OrderStatus
from app.orders.state import SYSTEM, Actor, transition

S = OrderStatus


def event_base(order: Order) -> dict[str, Any]:
    return {"order_id": order.id, "order_no": order.order_no, "user_id": order.user_id}


async def move_or_conflict(session: AsyncSession, order: Order, to: OrderStatus, **kwargs: Any) -> None:
    if not await transition(session, order, to, **kwargs):
        raise InvalidOrderState("The order changed meanwhile; reload it and try again.")


async def release_stock(session: AsyncSession, order: Order) -> bool:
    """Put an order's reserved stock back, at most once per order. True when this call returned it."""
    return order.id in await release_stock_of(session, [order.id])


async def release_stock_of(session: AsyncSession, order_ids: Sequence[int]) -> set[int]:
    """Return the stock of several orders at once, SKUs in ascending id order (as checkout takes them, so
    the two never wait on each other in a cycle). Returns the ids whose stock this call put back."""
    now = utcnow()
    released = {oid for oid in order_ids if await repository.claim_stock_release(session, oid, now)}
    by_kind: dict[str, list[int]] = defaultdict(list)
    for order_id, kind in sorted((await repository.kinds_of(session, sorted(released))).items()):
        by_kind[kind].append(order_id)
    list_stock = [oid for kind in releases.LIST_STOCK for oid in by_kind.pop(kind, [])]
    quantities: dict[int, int] = defaultdict(int)
    for item in await repository.items_of(session, sorted(list_stock)):
        quantities[item.sku_id] += item.quantity
    await repository.put_back_stock(session, quantities)
    for kind, ids in sorted(by_kind.items()):
        give_back = releases.give_back_for(kind)
        assert give_back is not None
        await give_back(session, ids)
    return released


async def adjust_sales(session: AsyncSession, order_id: int, sign: int) -> None:
    by_product: dict[int, int] = defaultdict(int)
    for item in await repository.items_of(session, [order_id]):
        by_product[item.product_id] += sign * item.quantity
    await repository.add_sales(session, by_product)


async def emit_cancelled(
    session: AsyncSession, order: Order, actor: Actor, reason: str, returned: bool
) -> None:
    await events.emit(
        session,
        "order.cancelled",
        {
            **event_base(order),
            "reason": reason,
            "by": actor.role,
            "stock_returned": returned,
            "cancelled_at": (order.cancelled_at or utcnow()).isoformat(),
        },
        subject=f"order/{order.id}",
    )


async def complete(session: AsyncSession, order: Order, *, actor: Actor, reason: str) -> bool:
    if not await transition(session, order, S.completed, actor=actor, reason=reason):
        if actor != SYSTEM:
            raise InvalidOrderState("The order changed meanwhile; reload it and try again.")
        return False
    await events.emit(
        session,
        "order.completed",
        {
            **event_base(order),
            "by": actor.role,
            "completed_at": (order.completed_at or utcnow()).isoformat(),
        },
        subject=f"order/{order.id}",
    )
    return True


async def emit_refund_requested(session: AsyncSession, order: Order, reason: str, from_status: str) -> None:
    # v2 adds from_status deposit_paid (a pre-sale's deposit); the others stay v1 for their consumers.
    await events.emit(
        session,
        "order.refund_requested",
        {
            **event_base(order),
            "reason": reason,
            "from_status": str(from_status),
            "amount_fen": order.paid_amount_fen or 0,
            "requested_at": utcnow().isoformat(),
        },
        subject=f"order/{order.id}",
        version=2 if from_status == S.deposit_paid else 1,
    )
