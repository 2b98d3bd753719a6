"""Shipments: which batch each shipped order line came from (for recalls). The orders domain, a layer
above, calls record_shipment with the order's lines."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.traceability import repository
from app.traceability.errors import (
    BatchOfAnotherProduct,
    UnknownOrderLine,
)
from app.traceability.service import get_batch_or_raise

# Recall


async def record_shipment(
    session: AsyncSession,
    order_id: int,
    order_lines: list[tuple[int, int, int, int, int]],
    lines: list[tuple[int | None, int | None, int]],
    *,
    keep_recorded: bool = True,
) -> None:
    """Called by the orders domain (a layer above) when staff ship an order: record which batch each line
    came from.

    `order_lines` are the order's (order item id, sku id, product id, quantity, sku weight in grams);
    `lines` are (order item id or None, sku id or None, batch id) as staff gave them; every other line gets
    the first-expiry-first-out batch of its product that has quantity left (none when there is none). The
    batch's quantity left goes down atomically by the line's weight. A line already recorded (an adoption's
    delivery records the plot's batch when it is drawn) keeps its batch; `keep_recorded=False` records the
    given lines again (a gift box's order line ships as one parcel per recipient, each with its batch)."""
    from app.traceability.models import BatchAllocation

    if keep_recorded:
        recorded = set(
            (
                await session.execute(
                    select(BatchAllocation.order_item_id).where(BatchAllocation.order_id == order_id)
                )
            ).scalars()
        )
        order_lines = [line for line in order_lines if line[0] not in recorded]

    chosen: dict[int, int] = {}
    for item_id, sku_id, batch_id in lines:
        match = [
            line
            for line in order_lines
            if (item_id is not None and line[0] == item_id) or (item_id is None and line[1] == sku_id)
        ]
        if not match:
            raise UnknownOrderLine(
                "A line named in `lines` is not part of this order.", order_item_id=item_id, sku_id=sku_id
            )
        for line in match:
            chosen[line[0]] = batch_id
    for item_id, _sku_id, product_id, quantity, weight_g in order_lines:
        grams = quantity * weight_g
        batch_id = chosen.get(item_id)
        if batch_id is not None:
            batch = await get_batch_or_raise(session, batch_id)
            if batch.product_id != product_id:
                raise BatchOfAnotherProduct("That batch is of another product.", batch_id=batch_id)
            await repository.take_from_batch(session, batch_id, grams, or_what_is_left=True)
            how = "staff"
        else:
            candidates = await repository.fefo_candidates(session, product_id)
            if not candidates:
                continue
            for candidate in candidates:
                if await repository.take_from_batch(session, candidate, grams, or_what_is_left=False):
                    batch_id = candidate
                    break
            else:  # no batch holds the whole line: the first to expire gives what it has left
                batch_id = candidates[0]
                await repository.take_from_batch(session, batch_id, grams, or_what_is_left=True)
            how = "fefo"
        session.add(
            BatchAllocation(
                order_item_id=item_id,
                order_id=order_id,
                batch_id=batch_id,
                quantity=quantity,
                quantity_g=grams,
                chosen_by=how,
            )
        )
    await session.flush()
