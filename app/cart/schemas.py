from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

from app.kit.schemas import InputModel, OutputModel


class CartItemSet(InputModel):
    quantity: Annotated[
        StrictInt,
        Field(ge=1, le=9999, description="capped at the stock and at ORDER_MAX_QUANTITY_PER_SKU"),
    ]


class CartItemRead(OutputModel):
    sku_id: int
    product_id: int
    name: str = Field(description="product name and spec")
    sku_name: str
    quantity: int
    unit_price_fen: int = Field(description="the live price")
    subtotal_fen: int = Field(description="0 when the line is unavailable")
    stock: int
    max_quantity: int = Field(description="the most that can be bought now (stock and per-order limit)")
    available: bool = Field(
        description="false when the product was archived or the SKU switched off or sold out"
    )


class CartRead(OutputModel):
    items: list[CartItemRead]
    total_fen: int = Field(description="the sum of the available lines")
