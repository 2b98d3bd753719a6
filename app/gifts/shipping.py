"""Shipping a custom order one parcel per recipient (registered with orders by app.flows.order_kinds): each
parcel gets its carrier and tracking number once (a conditional UPDATE), and the batch it was packed from is
recorded by traceability as any shipped line's is (so the box's trace code tells its batch's story and a
recall finds it). The order moves to shipped with the last parcel."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.db import utcnow
from app.gifts import repository
from app.gifts.errors import InvalidRequestState, ParcelAlreadyShipped, RecipientNotFound
from app.gifts.models import RequestStatus
from app.gifts.service import get_or_raise as get_request
from app.orders import repository as orders_repository
from app.orders import staff as orders_staff
from app.orders.errors import InvalidOrderState
from app.orders.models import Order, OrderStatus
from app.orders.schemas import ShipRequest
from app.traceability import shipments as trace_shipments
from app.users.models import User


async def ship_parcel(session: AsyncSession, staff: User, order: Order, data: ShipRequest) -> None:
    if data.recipient_index is None:
        raise InvalidOrderState("A custom order ships per recipient: give recipient_index.")
    request = await repository.get_by_order(session, order.id)
    if request is None:
        raise InvalidOrderState("This order has no custom request.")
    if request.status != RequestStatus.in_production:
        raise InvalidRequestState("Parcels ship once the proof is approved.", request_status=request.status)
    parcel = await repository.recipient(session, request.id, data.recipient_index)
    if parcel is None:
        raise RecipientNotFound("No such recipient.", recipient_index=data.recipient_index)
    if order.status != OrderStatus.paid:
        if parcel.shipped_at is not None:
            raise ParcelAlreadyShipped(
                "This recipient's parcel has gone already.", recipient_index=parcel.idx
            )
        raise InvalidOrderState(f"Only a paid order can be shipped; this one is {order.status}.")
    now = utcnow()
    values = {
        "carrier": data.carrier,
        "tracking_no": data.tracking_no,
        "shipped_by": staff.id,
        "shipped_at": now,
    }
    if not await repository.ship_parcel(session, request.id, parcel.idx, values):
        raise ParcelAlreadyShipped("This recipient's parcel has gone already.", recipient_index=parcel.idx)
    # Traceability records the parcel's batch like a shipped line's (given, or first-expiry-first-out).
    line = (await orders_repository.shipment_lines(session, order.id))[0]
    item_id, sku_id, product_id, _quantity, weight_g = line
    explicit = [(item_id, None, chosen.batch_id) for chosen in (data.lines or [])[:1]]
    before = await repository.last_allocation(session, order.id)
    await trace_shipments.record_shipment(
        session,
        order.id,
        [(item_id, sku_id, product_id, parcel.quantity, weight_g)],
        explicit,
        keep_recorded=False,
    )
    after = await repository.last_allocation(session, order.id)
    batch_id = after[1] if after is not None and after != before else None
    if batch_id is not None:
        await repository.set_parcel_batch(session, request.id, parcel.idx, batch_id)
    request = await get_request(session, request.id)
    await events.emit(
        session,
        "custom_request.parcel_shipped",
        {
            "request_id": request.id,
            "user_id": request.user_id,
            "order_id": order.id,
            "recipient_index": parcel.idx,
            "carrier": data.carrier,
            "tracking_no": data.tracking_no,
            "batch_id": batch_id,
            "shipped": request.parcels_shipped,
            "parcels": request.recipients_count,
        },
        subject=f"custom_request/{request.id}",
    )
    if request.parcels_shipped >= request.recipients_count:
        await orders_staff.mark_shipped(session, staff, order, data.carrier, data.tracking_no)
