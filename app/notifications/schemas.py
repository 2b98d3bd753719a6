from __future__ import annotations

from datetime import datetime

from pydantic import Field

from app.kit.schemas import OutputModel


class NotificationRead(OutputModel):
    id: int
    event_type: str = Field(description="the domain event it came from", examples=["order.shipped"])
    title: str = Field(examples=["订单已发货"])
    body: str = Field(examples=["订单 DX202611250001 已由顺丰速运发出，运单号 SF1234567890。"])
    link: str | None = Field(default=None, description="storefront page to open", examples=["/orders/12"])
    created_at: datetime
    read_at: datetime | None = None


class MarkedRead(OutputModel):
    marked: int = Field(description="how many notifications were unread and are now read", examples=[3])
