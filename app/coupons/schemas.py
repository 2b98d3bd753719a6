from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, ConfigDict, Field, StrictInt, StringConstraints, model_validator

from app.kit.params import MAX_ID
from app.kit.schemas import InputModel, OutputModel

Fen = Annotated[StrictInt, Field(ge=1, le=100_000_000)]
Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]

CREATE_EXAMPLE = {
    "name": "新米尝鲜 满199减30",
    "kind": "fixed",
    "amount_fen": 3000,
    "threshold_fen": 19900,
    "starts_at": "2026-12-01T00:00:00+08:00",
    "ends_at": "2026-12-31T23:59:59+08:00",
    "total_quantity": 500,
    "per_customer_limit": 1,
    "category_ids": [1],
}


class CouponCreate(InputModel):
    """`fixed` needs `amount_fen`; `percent` needs `percent_off` (1–99) and may cap it with
    `max_discount_fen`. No `product_ids` and no `category_ids`: the whole shop."""

    model_config = ConfigDict(json_schema_extra={"example": CREATE_EXAMPLE})

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    kind: Literal["fixed", "percent"]
    amount_fen: Fen | None = None
    percent_off: Annotated[StrictInt, Field(ge=1, le=99)] | None = None
    max_discount_fen: Fen | None = None
    threshold_fen: Annotated[StrictInt, Field(ge=0, le=100_000_000)] = 0
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    total_quantity: Annotated[StrictInt, Field(ge=1, le=10_000_000)]
    per_customer_limit: Annotated[StrictInt, Field(ge=1, le=100)] = 1
    product_ids: list[Id] = Field(default_factory=list, max_length=500)
    category_ids: list[Id] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _terms_of_the_kind(self) -> CouponCreate:
        if self.kind == "fixed":
            if self.amount_fen is None:
                raise ValueError("a fixed coupon needs amount_fen")
            if self.percent_off is not None or self.max_discount_fen is not None:
                raise ValueError("percent_off and max_discount_fen are for percent coupons")
        else:
            if self.percent_off is None:
                raise ValueError("a percent coupon needs percent_off (1-99)")
            if self.amount_fen is not None:
                raise ValueError("amount_fen is for fixed coupons")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        self.product_ids = sorted(set(self.product_ids))
        self.category_ids = sorted(set(self.category_ids))
        return self


class CouponTerms(OutputModel):
    """A coupon as customers see it."""

    id: int
    name: str
    kind: Literal["fixed", "percent"]
    amount_fen: int | None
    percent_off: int | None
    max_discount_fen: int | None
    threshold_fen: int
    starts_at: datetime
    ends_at: datetime
    per_customer_limit: int
    product_ids: list[int]
    category_ids: list[int]


class ClaimableCouponRead(CouponTerms):
    remaining: int = Field(description="how many are left to claim")


class CouponRead(CouponTerms):
    """A coupon as staff see it, with its usage."""

    code: str = Field(description="the batch's code (staff reference); each claimed coupon has its own")
    total_quantity: int
    claimed_count: int
    used_count: int
    status: Literal["active", "paused"]
    created_at: datetime


class ClaimRead(OutputModel):
    id: int
    coupon_id: int
    code: str = Field(description="what POST /api/orders takes as coupon_code")
    status: Literal["unused", "used", "expired"]
    expires_at: datetime


class MyCouponRead(ClaimRead):
    claimed_at: datetime
    used_at: datetime | None
    order_id: int | None
    coupon: CouponTerms
