from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StrictBool, StrictInt, model_validator

from app.kit.schemas import InputModel, OutputModel
from app.orders.schemas import Id, OrderRead, Quantity

Fen = Annotated[StrictInt, Field(ge=0, le=100_000_000)]
Stage = Literal["deposit", "balance", "paid", "closed"]


class PresaleCreate(InputModel):
    sku_id: Id = Field(examples=[12])
    deposit_fen: Annotated[StrictInt, Field(ge=1, le=100_000_000)] = Field(examples=[2000])
    balance_fen: Fen = Field(examples=[6800])
    quota: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = Field(
        description="units sold at most; apart from the SKU's stock, which is taken at shipping",
        examples=[100],
    )
    deposit_ends_at: AwareDatetime = Field(examples=["2026-08-31T23:59:59+08:00"])
    balance_starts_at: AwareDatetime = Field(examples=["2026-10-01T00:00:00+08:00"])
    balance_ends_at: AwareDatetime = Field(examples=["2026-10-07T23:59:59+08:00"])
    ships_from: AwareDatetime = Field(examples=["2026-10-10T00:00:00+08:00"])
    refund_deposit_if_unpaid: StrictBool = False

    @model_validator(mode="after")
    def _windows(self) -> PresaleCreate:
        if not self.deposit_ends_at <= self.balance_starts_at < self.balance_ends_at:
            raise ValueError("need deposit_ends_at <= balance_starts_at < balance_ends_at")
        return self


class PresaleRead(OutputModel):
    id: int
    sku_id: int
    deposit_fen: int
    balance_fen: int
    quota: int
    remaining: int
    deposit_ends_at: datetime
    balance_starts_at: datetime
    balance_ends_at: datetime
    ships_from: datetime
    refund_deposit_if_unpaid: bool


class PresaleStaffRead(PresaleRead):
    created_at: datetime


class PresaleOrderCreate(InputModel):
    address_id: Id = Field(examples=[3])
    quantity: Quantity = Field(examples=[1])


class PresaleOrderPlaced(OrderRead):
    """The order as placed, with the pre-sale's fields (amounts times quantity)."""

    presale_id: int
    deposit_fen: int
    balance_fen: int
    amount_due_fen: int
    stage: Stage


class PresaleOrderRead(OutputModel):
    """A pre-sale order as its buyer (and staff) see it: where it is in its two payments."""

    order_id: int
    order_no: str
    presale_id: int
    sku_id: int
    quantity: int
    status: str
    stage: Stage
    deposit_fen: int
    balance_fen: int
    shipping_fen: int
    amount_due_fen: int
    balance_starts_at: datetime
    balance_ends_at: datetime
    ships_from: datetime


class BehindRead(PresaleOrderRead):
    user_id: int
    buyer_phone: str
