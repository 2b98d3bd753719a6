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
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath
from app.orders.models import Order, OrderItem
from app.traceability import service as traceability_service
from app.traceability.errors import BatchNotFound
from app.traceability.models import BatchAllocation
from app.traceability.schemas import BatchOrderRead, RecallLine
from app.users.dependencies import StaffUser

router = APIRouter()


async def _orders_of_batch_rows(
    session: AsyncSession, batch_id: int, offset: int, limit: int
) -> tuple[list[Any], int]:
    where = [BatchAllocation.batch_id == batch_id]
    total = (
        await session.execute(select(func.count(func.distinct(BatchAllocation.order_id))).where(*where))
    ).scalar_one()
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
    session: AsyncSession, batch_id: int, *, offset: int, limit: int
) -> tuple[list[BatchOrderRead], int]:
    await traceability_service.get_batch_or_raise(session, batch_id)
    rows, total = await _orders_of_batch_rows(session, batch_id, offset, limit)
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
    return list(result.values()), total


@router.get(
    "/api/admin/batches/{batch_id}/orders",
    response_model=Page[BatchOrderRead],
    tags=["traceability"],
    summary="Recall list: every order that received goods from this batch, with the lines and the recipient",
    responses=problem_responses(NotAuthenticated, Forbidden, BatchNotFound, validation=True),
)
async def orders_of_batch(
    batch_id: IdPath, _staff: StaffUser, session: SessionDep, page: PageParamsDep
) -> Page[BatchOrderRead]:
    items, total = await list_orders_of_batch(session, batch_id, offset=page.offset, limit=page.size)
    return Page(items=items, total=total, page=page.page, size=page.size)
