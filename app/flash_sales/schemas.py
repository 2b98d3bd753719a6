from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field, StrictInt, model_validator

from app.kit.schemas import InputModel, OutputModel
from app.orders.schemas import Id, Quantity

Count = Annotated[StrictInt, Field(ge=1, le=1_000_000)]


class FlashSaleCreate(InputModel):
    sku_id: Id = Field(examples=[12])
    price_fen: Annotated[StrictInt, Field(ge=0, le=100_000_000)] = Field(examples=[3990])
    quantity: Count = Field(
        description="units taken from the SKU's stock now; the unsold return at the end", examples=[100]
    )
    per_customer_limit: Annotated[StrictInt, Field(ge=1, le=9999)] = Field(examples=[1])
    starts_at: AwareDatetime = Field(examples=["2026-12-01T20:00:00+08:00"])
    ends_at: AwareDatetime = Field(examples=["2026-12-01T20:30:00+08:00"])

    @model_validator(mode="after")
    def _window(self) -> FlashSaleCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class FlashSaleRead(OutputModel):
    id: int
    sku_id: int
    price_fen: int
    quantity: int
    remaining: int
    per_customer_limit: int
    starts_at: datetime
    ends_at: datetime


class FlashSaleStaffRead(FlashSaleRead):
    cancelled_at: datetime | None
    closed_at: datetime | None
    returned_to_stock: int
    created_at: datetime


class FlashSaleOrderCreate(InputModel):
    address_id: Id = Field(examples=[3])
    quantity: Quantity = Field(examples=[1])
