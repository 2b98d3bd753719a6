"""Delivery orders: goods already paid for elsewhere (an adoption's kilograms, a subscription's period) sent
as an ordinary order of their own kind, with total 0 and status `paid` from the start, so staff ship it,
the customer tracks it and traceability records its batch like any order. Not a second checkout: no price,
no payment; only the address's checks, the SKU's stock taken with the same conditional UPDATE, the order's
rows and events in the caller's transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.checkout import pipeline
from app.checkout.stores import CheckoutSku
from app.db import utcnow
from app.kit import regions
from app.orders import repository as orders_repository
from app.orders import service as orders_service
from app.orders import stats as orders_stats
from app.orders.errors import OutOfStock, SkuUnavailable
from app.orders.models import OrderHistory, OrderKind, OrderStatus
from app.users import repository as users_repository
from app.users.errors import AddressNeedsCorrection, AddressNotFound


async def place_delivery_order(
    session: AsyncSession,
    *,
    user_id: int,
    kind: str,
    sku_id: int,
    quantity: int,
    address_id: int,
    source_ref: str,
) -> dict[str, Any]:
    """An order of `kind` (a delivery kind, e.g. adoption_delivery) for `quantity` of `sku_id` to the
    customer's address, paid (total 0) at once; `source_ref` ("adoption/12") says what it delivers (kept in
    the order's note and its paid history entry). Returns the order as GET /api/orders/{id} shows it.
    Raises AddressNotFound, AddressNeedsCorrection, SkuUnavailable, OutOfStock (nothing written: the caller
    rolls back)."""
    OrderKind(kind)
    address = await users_repository.get_address(session, user_id, address_id)
    if address is None:
        raise AddressNotFound("No such address.")
    province = regions.canonical(address.province)
    if address.needs_correction or province is None:
        raise AddressNeedsCorrection(
            "This address's province is not recognised; choose it again from the list.", address_id=address_id
        )
    rows = await orders_repository.sku_rows(session, [sku_id])
    if sku_id not in rows:
        raise SkuUnavailable("The item to deliver is not in the catalogue.", sku_ids=[sku_id])
    sku = CheckoutSku(*rows[sku_id])
    if not await orders_repository.take_stock(session, sku_id, quantity):
        raise OutOfStock("Not enough stock for this delivery; nothing was reserved.", sku_ids=[sku_id])
    now = utcnow()
    order: dict[str, Any] = {
        "order_no": pipeline.new_order_no(now),
        "kind": kind,
        "user_id": user_id,
        "status": OrderStatus.paid.value,
        "subtotal_fen": 0,
        "shipping_fen": 0,
        "discount_fen": 0,
        "total_fen": 0,
        "coupon_code": None,
        "note": source_ref[:200],
        "address": {
            "recipient": address.recipient,
            "phone": address.phone,
            "province": province,
            "city": address.city,
            "district": address.district,
            "detail": address.detail,
        },
        "recipient_phone": address.phone,
        "pay_deadline": now,
        "paid_at": now,
        "paid_amount_fen": 0,
        "created_at": now,
        "updated_at": now,
    }
    order["id"] = await orders_repository.insert_order(session, order)
    item = {
        "order_id": order["id"],
        "sku_id": sku_id,
        "product_id": sku.product_id,
        "name": f"{sku.product_name} {sku.name}"[:200],
        "sku_name": sku.name,
        "quantity": quantity,
        "unit_price_fen": 0,
        "subtotal_fen": 0,
        "discount_fen": 0,
    }
    (item["id"],) = await orders_repository.insert_items(session, [item])
    paid = OrderHistory(
        order_id=order["id"],
        from_status=OrderStatus.pending_payment.value,
        to_status=OrderStatus.paid.value,
        actor_id=None,
        actor_role="system",
        reason=f"delivery of {source_ref}"[:500],
        created_at=now + timedelta(microseconds=1),
    )
    session.add(paid)
    await session.flush()
    await orders_stats.add(session, orders_stats.placed(now, OrderStatus.paid.value, 0))
    created = pipeline.Checkout(pipeline.STANDARD, None, user_id, None)  # type: ignore[arg-type]
    created.order, created.items = order, [item]
    await events.emit(session, **_event(pipeline.order_created_event(created)))
    await events.emit(
        session,
        "order.paid",
        {
            "order_id": order["id"],
            "order_no": order["order_no"],
            "user_id": user_id,
            "amount_fen": 0,
            "paid_at": now.isoformat(),
        },
        subject=f"order/{order['id']}",
    )
    placed = await orders_repository.get(session, order["id"], user_id=user_id)
    assert placed is not None
    return orders_service.to_read(placed).model_dump(mode="json")


def _event(row: dict[str, Any]) -> dict[str, Any]:
    """events.emit's arguments from an outbox row built by pipeline.order_created_event."""
    return {"event_type": row["type"], "data": row["data"], "subject": row["subject"]}
