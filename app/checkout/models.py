"""Checkout's own table: which source a prepaid delivery order was placed for (app.checkout.delivery)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import MYSQL_TABLE_ARGS, Base, BigId, UTCDateTime, utcnow


class DeliveryOrder(Base):
    """A delivery order (kind subscription_delivery or adoption_delivery) and what it delivers: `source_ref`
    (e.g. "subscription:12:3", the third period of subscription 12) is unique, so two workers can never
    place the same delivery twice; the second one's INSERT fails and its transaction rolls back."""

    __tablename__ = "delivery_orders"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_ref: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
