from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, get_args

from pydantic import Field, StrictInt, StringConstraints, model_validator

from app.kit.schemas import InputModel, OutputModel
from app.orders.models import OrderKind, OrderStatus

Id = Annotated[StrictInt, Field(ge=1, le=9_223_372_036_854_775_807)]
Quantity = Annotated[
    StrictInt, Field(ge=1, le=9999, description="how many; capped by ORDER_MAX_QUANTITY_PER_SKU")
]

# What the customer sees as the carrier; the list is closed so that tracking links can be built from it.
Carrier = Literal[
    "顺丰速运",
    "京东物流",
    "中通快递",
    "圆通速递",
    "韵达快递",
    "申通快递",
    "极兔速递",
    "德邦快递",
    "EMS",
    "中国邮政",
]
CARRIERS: tuple[str, ...] = get_args(Carrier)
TrackingNo = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9-]{6,40}$")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class OrderLineIn(InputModel):
    sku_id: Id
    quantity: Quantity


class OrderCreate(InputModel):
    address_id: Id
    items: list[OrderLineIn] | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the lines to buy; leave out (or null) to buy the whole cart, which is then emptied",
    )
    coupon_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""

    @model_validator(mode="after")
    def _one_line_per_sku(self) -> OrderCreate:
        if self.items is not None:
            ids = [line.sku_id for line in self.items]
            if len(ids) != len(set(ids)):
                raise ValueError("each sku_id may appear only once; put the total in its quantity")
        return self


class RefundRequest(InputModel):
    reason: Reason


class RefundReject(InputModel):
    reason: Reason


class ShipLine(InputModel):
    """Which batch one line was packed from. Name the line by `order_item_id` or by `sku_id`."""

    order_item_id: Id | None = None
    sku_id: Id | None = None
    batch_id: Id

    @model_validator(mode="after")
    def _exactly_one_line_ref(self) -> ShipLine:
        if (self.order_item_id is None) == (self.sku_id is None):
            raise ValueError("give exactly one of order_item_id and sku_id")
        return self


class ShipRequest(InputModel):
    carrier: Carrier
    tracking_no: TrackingNo
    lines: list[ShipLine] | None = Field(default=None, max_length=200)
    recipient_index: Annotated[StrictInt, Field(ge=1, le=1_000_000)] | None = Field(
        default=None,
        description="orders shipped per recipient (kind custom): which recipient's parcel this is (1-based, "
        "as in the recipient list); the order is shipped when every parcel has gone",
    )


class AddressSnapshot(OutputModel):
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    detail: str


class OrderItemRead(OutputModel):
    id: int
    sku_id: int
    product_id: int
    name: str
    sku_name: str
    quantity: int
    unit_price_fen: int
    subtotal_fen: int
    discount_fen: int = Field(description="this line's share of the order's discount_fen")


class ShipmentRead(OutputModel):
    carrier: str
    tracking_no: str


class OrderHistoryRead(OutputModel):
    from_status: OrderStatus | None
    to_status: OrderStatus
    actor_id: int | None = Field(description="the user who made the change; null for the system")
    actor_role: Literal["customer", "merchant", "admin", "system"]
    reason: str
    at: datetime


class OrderRead(OutputModel):
    id: int
    order_no: str
    kind: OrderKind
    status: OrderStatus
    items: list[OrderItemRead]
    subtotal_fen: int
    shipping_fen: int
    discount_fen: int
    total_fen: int
    coupon_code: str | None
    note: str
    address: AddressSnapshot
    pay_deadline: datetime
    created_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    refunded_at: datetime | None
    refund_reason: str | None
    shipment: ShipmentRead | None
    history: list[OrderHistoryRead]


class AdminOrderRead(OrderRead):
    user_id: int
    buyer_phone: str


class OrderExportCreate(InputModel):
    """An export of the orders placed from `date_from` to `date_to` (Beijing days, inclusive; none: all)."""

    format: Literal["csv", "xlsx"] = Field(examples=["csv"])
    date_from: date | None = Field(default=None, examples=["2026-11-01"])
    date_to: date | None = Field(default=None, examples=["2026-11-30"])


class OrderExportRead(OutputModel):
    id: int
    format: str
    date_from: date | None
    date_to: date | None
    status: str = Field(description="pending, running, done or failed")
    rows_total: int | None = Field(description="orders in the export (known once it runs)")
    rows_done: int
    progress_percent: int
    created_at: datetime
    finished_at: datetime | None
    download_url: str | None = Field(description="once done: GET it for the file")
