from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.gifts.models import CustomRecipient, CustomRequest, RequestStatus
from app.traceability.models import BatchAllocation

INSERT_CHUNK = 1000


async def get(session: AsyncSession, request_id: int, *, lock: bool = False) -> CustomRequest | None:
    query = select(CustomRequest).where(CustomRequest.id == request_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()


async def get_by_order(session: AsyncSession, order_id: int) -> CustomRequest | None:
    query = select(CustomRequest).where(CustomRequest.order_id == order_id)
    return (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()


async def list_of(
    session: AsyncSession, *, user_id: int | None, status: str | None, offset: int, limit: int
) -> tuple[Sequence[CustomRequest], int]:
    query = select(CustomRequest)
    count = select(func.count()).select_from(CustomRequest)
    if user_id is not None:
        query = query.where(CustomRequest.user_id == user_id)
        count = count.where(CustomRequest.user_id == user_id)
    if status is not None:
        query = query.where(CustomRequest.status == status)
        count = count.where(CustomRequest.status == status)
    rows = (
        await session.execute(query.order_by(CustomRequest.id.desc()).offset(offset).limit(limit))
    ).scalars()
    return rows.all(), int((await session.execute(count)).scalar_one())


async def replace_recipients(session: AsyncSession, request_id: int, rows: list[dict[str, Any]]) -> None:
    """The request's list becomes `rows` (numbered from 1), in chunks of one multi-row INSERT each."""
    await session.execute(delete(CustomRecipient).where(CustomRecipient.request_id == request_id))
    values = [{**row, "request_id": request_id, "idx": i} for i, row in enumerate(rows, start=1)]
    for start in range(0, len(values), INSERT_CHUNK):
        await session.execute(insert(CustomRecipient), values[start : start + INSERT_CHUNK])


async def recipients(session: AsyncSession, request_id: int) -> Sequence[CustomRecipient]:
    query = (
        select(CustomRecipient).where(CustomRecipient.request_id == request_id).order_by(CustomRecipient.idx)
    )
    return (await session.execute(query)).scalars().all()


async def recipient(session: AsyncSession, request_id: int, idx: int) -> CustomRecipient | None:
    query = select(CustomRecipient).where(
        CustomRecipient.request_id == request_id, CustomRecipient.idx == idx
    )
    return (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()


async def move(
    session: AsyncSession, request_id: int, from_statuses: Sequence[str], values: dict[str, Any]
) -> bool:
    """A conditional UPDATE of the request: True when it was in one of `from_statuses` (and now moved)."""
    result = await session.execute(
        update(CustomRequest)
        .where(CustomRequest.id == request_id, CustomRequest.status.in_(list(from_statuses)))
        .values(**values)
    )
    return result.rowcount == 1


async def link_order(
    session: AsyncSession, request_id: int, accept_no: int, order_id: int, at: datetime
) -> bool:
    """The accepted quote's order, set once per acceptance (the first of two racing acceptances wins)."""
    result = await session.execute(
        update(CustomRequest)
        .where(
            CustomRequest.id == request_id,
            CustomRequest.order_id.is_(None),
            CustomRequest.accept_no == accept_no,
            CustomRequest.status.in_([RequestStatus.quoted.value, RequestStatus.proof_ready.value]),
        )
        .values(order_id=order_id, accepted_at=at, updated_at=at)
    )
    return result.rowcount == 1


async def unlink_orders(session: AsyncSession, order_ids: Sequence[int], at: datetime) -> None:
    """Orders that ended unpaid: their requests can be accepted again (as a new acceptance). A request in
    production keeps its order (a refund before shipping is the order's story, not a new acceptance)."""
    await session.execute(
        update(CustomRequest)
        .where(
            CustomRequest.order_id.in_(list(order_ids)),
            CustomRequest.status.in_([RequestStatus.quoted.value, RequestStatus.proof_ready.value]),
        )
        .values(order_id=None, accepted_at=None, accept_no=CustomRequest.accept_no + 1, updated_at=at)
    )


async def ship_parcel(session: AsyncSession, request_id: int, idx: int, values: dict[str, Any]) -> bool:
    result = await session.execute(
        update(CustomRecipient)
        .where(
            CustomRecipient.request_id == request_id,
            CustomRecipient.idx == idx,
            CustomRecipient.shipped_at.is_(None),
        )
        .values(**values)
    )
    if result.rowcount != 1:
        return False
    await session.execute(
        update(CustomRequest)
        .where(CustomRequest.id == request_id)
        .values(parcels_shipped=CustomRequest.parcels_shipped + 1)
    )
    return True


async def last_allocation(session: AsyncSession, order_id: int) -> tuple[int, int] | None:
    """(allocation id, batch id) of the batch traceability allocated last to the order."""
    query = (
        select(BatchAllocation.id, BatchAllocation.batch_id)
        .where(BatchAllocation.order_id == order_id)
        .order_by(BatchAllocation.id.desc())
        .limit(1)
    )
    row = (await session.execute(query)).first()
    return None if row is None else (int(row[0]), int(row[1]))


async def set_parcel_batch(session: AsyncSession, request_id: int, idx: int, batch_id: int) -> None:
    await session.execute(
        update(CustomRecipient)
        .where(CustomRecipient.request_id == request_id, CustomRecipient.idx == idx)
        .values(batch_id=batch_id)
    )


async def recipients_page(
    session: AsyncSession, request_id: int, offset: int, limit: int
) -> Sequence[CustomRecipient]:
    query = (
        select(CustomRecipient)
        .where(CustomRecipient.request_id == request_id)
        .order_by(CustomRecipient.idx)
        .offset(offset)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()
