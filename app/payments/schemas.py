from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from app.payments.models import Channel, PaymentStatus


class PaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel


class PaymentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order_id: int
    channel: Channel
    amount_fen: int
    status: PaymentStatus
    pay_url: str


class NotifyAck(BaseModel):
    result: str = "success"
