from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, Field, StrictInt, StringConstraints

from app.kit.schemas import InputModel, OutputModel
from app.orders.schemas import Id
from app.users.schemas import AddressBase, MobilePhone

Boxes = Annotated[StrictInt, Field(ge=1, le=100_000)]
Fen = Annotated[StrictInt, Field(ge=0, le=1_000_000_000)]
MAX_TYPED_RECIPIENTS = 5000


class RecipientIn(AddressBase):
    """One recipient, validated exactly like a customer's address (province from the list, mobile phone)."""

    quantity: Boxes = Field(examples=[1])


class CustomRequestCreate(InputModel):
    company: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = Field(
        examples=["哈尔滨某某科技有限公司"]
    )
    contact_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] = (
        Field(examples=["王经理"])
    )
    contact_phone: MobilePhone
    sku_id: Id = Field(examples=[12])
    quantity: Boxes = Field(description="boxes in all; at least CUSTOM_MIN_QUANTITY", examples=[100])
    packaging_text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = (
        Field(examples=["恭贺新春 · 某某科技敬赠"])
    )
    deliver_by: date = Field(examples=["2027-01-20"])
    recipients: list[RecipientIn] = Field(
        default_factory=list,
        max_length=MAX_TYPED_RECIPIENTS,
        description="may be left empty and uploaded later (POST /api/custom-requests/{id}/recipients); "
        "when given, their quantities add up to `quantity`",
    )


class QuoteCreate(InputModel):
    unit_price_fen: Fen = Field(examples=[16800])
    setup_fee_fen: Fen = Field(examples=[50000])
    valid_until: AwareDatetime = Field(examples=["2026-12-15T23:59:59+08:00"])


class RecipientRead(OutputModel):
    recipient_index: int = Field(validation_alias="idx")
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    quantity: int
    carrier: str | None
    tracking_no: str | None
    batch_id: int | None
    shipped_at: datetime | None


class CustomRequestRead(OutputModel):
    id: int
    status: str
    company: str
    contact_name: str
    contact_phone: str
    sku_id: int
    quantity: int
    packaging_text: str
    deliver_by: date
    recipients_count: int
    unit_price_fen: int | None
    setup_fee_fen: int | None
    total_fen: int | None = Field(description="unit_price_fen × quantity + setup_fee_fen, once quoted")
    valid_until: datetime | None
    has_proof: bool
    proof_approved_at: datetime | None
    order_id: int | None
    accepted_at: datetime | None
    parcels_shipped: int
    created_at: datetime


class CustomRequestStaffRead(CustomRequestRead):
    user_id: int


class RecipientsUploaded(OutputModel):
    request_id: int
    rows: int = Field(description="recipient rows read from the file and stored")
    quantity: int
