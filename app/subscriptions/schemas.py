from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StrictInt

from app.kit.schemas import InputModel, OutputModel
from app.orders.schemas import Id, Quantity
from app.subscriptions.schedule import Interval

Periods = Annotated[StrictInt, Field(ge=1, le=24, description="how many deliveries, all prepaid")]


class SubscriptionCreate(InputModel):
    sku_id: Id = Field(examples=[12])
    quantity: Quantity = Field(description="units of the SKU in each delivery", examples=[1])
    interval: Interval = Field(examples=["monthly"])
    periods: Periods = Field(examples=[6])
    address_id: Id = Field(examples=[3])


class SubscriptionUpdate(InputModel):
    address_id: Id = Field(description="where the next deliveries go", examples=[4])


class DeliveryRead(OutputModel):
    period: int
    scheduled_on: date
    status: Literal["placed", "scheduled", "waiting_for_stock", "paused"]
    order_id: int | None = None


class SubscriptionRead(OutputModel):
    id: int
    status: str
    order_id: int
    sku_id: int
    quantity: int
    interval: Interval
    periods: int
    delivered_periods: int
    address_id: int
    total_fen: int
    refund_fen: int | None
    next_delivery_on: date | None
    deliveries: list[DeliveryRead] = Field(description="the periods delivered, each with its order")
    schedule: list[DeliveryRead] = Field(description="the periods still to come, on their dates")
    created_at: datetime


class UpcomingDelivery(OutputModel):
    """Staff: what to pack on a day."""

    subscription_id: int
    user_id: int
    sku_id: int
    quantity: int
    period: int
    scheduled_on: date
    status: str
