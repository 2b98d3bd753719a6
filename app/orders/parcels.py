"""Kinds of order shipped as several parcels (a custom order: one per recipient). Orders cannot import the
domains that sell through it: such a domain registers here, once at start-up (app.flows.order_kinds), how
staff ship one parcel of its orders; `POST /api/admin/orders/{id}/ship` then names the parcel by its
`recipient_index`, and the order becomes `shipped` when the domain says every parcel has gone
(`app.orders.staff.mark_shipped`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from app.orders.models import Order, OrderKind
from app.orders.schemas import ShipRequest
from app.users.models import User

# (session, staff, the order (its row locked; the shipper checks it is paid), the request naming the parcel)
ParcelShipper = Callable[[AsyncSession, User, Order, ShipRequest], Awaitable[None]]

_shippers: dict[str, ParcelShipper] = {}


def ship_with(kind: OrderKind | str, shipper: ParcelShipper) -> None:
    _shippers[OrderKind(kind).value] = shipper


def shipper_for(kind: str) -> ParcelShipper | None:
    return _shippers.get(kind)
