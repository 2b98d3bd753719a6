"""Recall: every order that received goods from a batch. It reads orders (who, where, which lines) through
traceability's allocations, so it belongs to neither domain: traceability sits below orders.

The route is mounted by app.main right after the traceability router (it is the last of the staff trace
routes, so the OpenAPI document keeps its order)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.pagination import CursorDep, CursorPage, PageParamsDep
from app.kit.params import IdPath
from app.orders.models import Order, OrderItem
from app.traceability import service as traceability_service
from app.traceability.errors import BatchNotFound
from app.traceability.models import BatchAllocation
from app.traceability.schemas import BatchOrderRead, RecallLine
from app.users.dependencies import StaffUser

router = APIRouter()


# A recall list counts its orders up to this many; beyond, the total is "more than" and pages go by cursor.
RECALL_COUNT_CAP = 10_000


async def _orders_of_batch_rows(
    session: AsyncSession,
    batch_id: int,
    offset: int,
    limit: int,
    *,
    after_order_id: int | None,
    count_cap: int,
) -> tuple[list[Any], int]:
    """A page of a batch's recall list, by order id: after `offset` orders or (keyset) after
    `after_order_id`, and the number of orders counted up to `count_cap + 1` (both read
    ix_batch_allocations_batch_order in order, never the whole list)."""
    where = [BatchAllocation.batch_id == batch_id]
    # GROUP BY with ORDER BY on the index's own order: DISTINCT made MariaDB build a temporary table.
    bounded = (
        select(BatchAllocation.order_id)
        .where(*where)
        .group_by(BatchAllocation.order_id)
        .order_by(BatchAllocation.order_id)
        .limit(count_cap + 1)
        .subquery()
    )
    total = (await session.execute(select(func.count()).select_from(bounded))).scalar_one()
    if after_order_id is not None:
        where.append(BatchAllocation.order_id > after_order_id)
        offset = 0
    order_ids = (
        (
            await session.execute(
                select(BatchAllocation.order_id)
                .where(*where)
                .group_by(BatchAllocation.order_id)
                .order_by(BatchAllocation.order_id)
                .offset(offset)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    if not order_ids:
        return [], total
    rows = await session.execute(
        select(Order, OrderItem, BatchAllocation)
        .join(BatchAllocation, BatchAllocation.order_id == Order.id)
        .join(OrderItem, OrderItem.id == BatchAllocation.order_item_id)
        .where(BatchAllocation.batch_id == batch_id, Order.id.in_(order_ids))
        .order_by(Order.id, OrderItem.id)
    )
    return list(rows.all()), total


async def list_orders_of_batch(
    session: AsyncSession, batch_id: int, *, offset: int, limit: int, after_order_id: int | None = None
) -> tuple[list[BatchOrderRead], int, bool]:
    """(orders, total, total_exact) of a batch's recall list."""
    await traceability_service.get_batch_or_raise(session, batch_id)
    rows, counted = await _orders_of_batch_rows(
        session, batch_id, offset, limit, after_order_id=after_order_id, count_cap=RECALL_COUNT_CAP
    )
    total = min(counted, RECALL_COUNT_CAP)
    result: dict[int, BatchOrderRead] = {}
    for order, item, allocation in rows:
        read = result.get(order.id)
        if read is None:
            read = result[order.id] = BatchOrderRead(
                order_id=order.id,
                order_no=order.order_no,
                status=order.status,
                user_id=order.user_id,
                recipient=str((order.address or {}).get("recipient", "")),
                recipient_phone=order.recipient_phone,
                shipped_at=order.shipped_at,
                lines=[],
            )
        read.lines.append(
            RecallLine(
                order_item_id=item.id,
                sku_id=item.sku_id,
                name=item.name,
                quantity=allocation.quantity,
                chosen_by=allocation.chosen_by,
            )
        )
    return list(result.values()), total, counted <= RECALL_COUNT_CAP


@router.get(
    "/api/admin/batches/{batch_id}/orders",
    response_model=CursorPage[BatchOrderRead],
    tags=["traceability"],
    summary="Recall list: every order that received goods from this batch, with the lines and the recipient",
    description="By order id. The total is exact up to 10,000 orders (`total_exact`); "
    "deeper pages by `?after=next_cursor`.",
    responses=problem_responses(NotAuthenticated, Forbidden, BatchNotFound, validation=True),
)
async def orders_of_batch(
    batch_id: IdPath, _staff: StaffUser, session: SessionDep, page: PageParamsDep, after: CursorDep
) -> CursorPage[BatchOrderRead]:
    items, total, exact = await list_orders_of_batch(
        session, batch_id, offset=page.offset, limit=page.size, after_order_id=after
    )
    next_cursor = str(items[-1].order_id) if len(items) == page.size else None
    return CursorPage(
        items=items, total=total, page=page.page, size=page.size, next_cursor=next_cursor, total_exact=exact
    )
