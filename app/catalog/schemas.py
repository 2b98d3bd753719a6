from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.catalog.search import MAX_QUERY_CHARS
from app.kit.money import MAX_PRICE_FEN
from app.kit.pagination import MAX_PAGE_SIZE, Page
from app.kit.params import MAX_ID, DigitsOnly
from app.kit.schemas import InputModel, OutputModel, reject_nulls

# Strict ints: 12.5, "1280" and true are 422s, not prices.
SkuPriceFen = Annotated[int, Field(ge=1, le=MAX_PRICE_FEN, strict=True, description="price in fen (分)")]
Stock = Annotated[int, Field(ge=0, le=10_000_000, strict=True)]
WeightG = Annotated[int, Field(ge=1, le=1_000_000, strict=True, description="shipping weight in grams")]
Gtin = Annotated[str, StringConstraints(pattern=r"^\d{8}$|^\d{12,14}$")]
SortOrder = Annotated[int, Field(ge=-1_000_000, le=1_000_000, strict=True)]


def _text(max_length: int, min_length: int = 0) -> Any:
    return Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)
    ]


# Categories


class CategoryRead(OutputModel):
    id: int
    name: str
    parent_id: int | None


class CategoryCreate(InputModel):
    name: _text(32, 1)
    parent_id: Annotated[int, Field(ge=1, le=MAX_ID, strict=True)] | None = None
    sort_order: SortOrder = 0


class CategoryUpdate(InputModel):
    name: _text(32, 1) | None = None
    parent_id: Annotated[int, Field(ge=1, le=MAX_ID, strict=True)] | None = Field(
        default=None, description="null moves the category to the top level"
    )
    sort_order: SortOrder | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return reject_nulls(data, {"parent_id"})


# SKUs


class SkuCreate(InputModel):
    name: _text(64, 1) = Field(description='the spec, e.g. "5kg 真空包装"')
    price_fen: SkuPriceFen
    original_price_fen: SkuPriceFen | None = Field(
        default=None, description="struck-through price; at least price_fen"
    )
    stock: Stock = 0
    weight_g: WeightG
    gtin: Gtin | None = None
    sort_order: SortOrder = 0

    @model_validator(mode="after")
    def _original_not_below_price(self) -> SkuCreate:
        if self.original_price_fen is not None and self.original_price_fen < self.price_fen:
            raise ValueError("original_price_fen must not be below price_fen")
        return self


class SkuUpdate(InputModel):
    name: _text(64, 1) | None = None
    price_fen: SkuPriceFen | None = None
    original_price_fen: SkuPriceFen | None = Field(default=None, description="null removes it")
    weight_g: WeightG | None = None
    gtin: Gtin | None = None
    sort_order: SortOrder | None = None
    is_active: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return reject_nulls(data, {"original_price_fen", "gtin"})


class StockSet(InputModel):
    stock: Stock


class SkuRead(OutputModel):
    id: int
    name: str
    price_fen: int
    original_price_fen: int | None
    stock: int
    weight_g: int


class SkuAdminRead(SkuRead):
    product_id: int
    gtin: str | None
    is_active: bool
    sort_order: int


# Images


class ImageRead(OutputModel):
    id: int
    url: str
    alt: str
    position: int


class ImageOrder(InputModel):
    image_ids: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]], Field(max_length=100)]


# Products


class ProductFields(InputModel):
    subtitle: _text(200) = ""
    description: _text(20_000) = ""
    category_id: Annotated[int, Field(ge=1, le=MAX_ID, strict=True)] | None = None
    origin: _text(64) = ""
    variety: _text(64) = ""
    grade: _text(32) = ""
    harvest_year: Annotated[int, Field(ge=1990, le=2100, strict=True)] | None = None
    shelf_life_days: Annotated[int, Field(ge=1, le=3650, strict=True)] | None = None
    storage_advice: _text(200) = ""
    sort_weight: SortOrder = 0


class ProductCreate(ProductFields):
    name: _text(100, 1)
    status: Literal["draft", "published"] = "draft"
    skus: Annotated[list[SkuCreate], Field(max_length=50)] = []


class ProductUpdate(InputModel):
    name: _text(100, 1) | None = None
    subtitle: _text(200) | None = None
    description: _text(20_000) | None = None
    category_id: Annotated[int, Field(ge=1, le=MAX_ID, strict=True)] | None = None
    origin: _text(64) | None = None
    variety: _text(64) | None = None
    grade: _text(32) | None = None
    harvest_year: Annotated[int, Field(ge=1990, le=2100, strict=True)] | None = None
    shelf_life_days: Annotated[int, Field(ge=1, le=3650, strict=True)] | None = None
    storage_advice: _text(200) | None = None
    sort_weight: SortOrder | None = None
    status: Literal["draft", "published", "archived"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return reject_nulls(data, {"category_id", "harvest_year", "shelf_life_days"})


class ProductListItem(OutputModel):
    id: int
    name: str
    subtitle: str
    cover_image: str | None
    min_price_fen: int
    origin: str
    variety: str
    sales: int
    rating_avg: float | None = Field(
        description="visible reviews' average, one decimal; null without reviews"
    )
    rating_count: int = Field(description="visible reviews")


class ProductDetail(OutputModel):
    id: int
    name: str
    subtitle: str
    description: str
    category_id: int | None
    origin: str
    variety: str
    grade: str
    harvest_year: int | None
    shelf_life_days: int | None
    storage_advice: str
    cover_image: str | None
    min_price_fen: int
    sales: int
    rating_avg: float | None = Field(
        description="visible reviews' average, one decimal; null without reviews"
    )
    rating_count: int = Field(description="visible reviews")
    images: list[ImageRead]
    skus: list[SkuRead]
    certificates: list[dict[str, Any]] = Field(
        default_factory=list, description="filled by the traceability domain"
    )
    batches: list[dict[str, Any]] = Field(
        default_factory=list, description="filled by the traceability domain"
    )


class ProductAdminRead(ProductDetail):
    status: Literal["draft", "published", "archived"]
    sort_weight: int
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    skus: list[SkuAdminRead]  # type: ignore[assignment]


class ProductAdminListItem(ProductListItem):
    status: Literal["draft", "published", "archived"]
    category_id: int | None
    updated_at: datetime


SortOption = Literal["newest", "price_asc", "price_desc", "sales", "relevance"]


class ProductListQuery(BaseModel):
    """The public list's query parameters (validated as one model: the hottest route pays for one
    validation)."""

    page: Annotated[int, DigitsOnly] = Field(1, ge=1, le=100_000, description="1-based page number")
    size: Annotated[int, DigitsOnly] = Field(
        20, ge=1, le=MAX_PAGE_SIZE, description="items per page (at most 100)"
    )
    q: str | None = Field(
        None,
        max_length=2000,
        description=(
            "Chinese text, pinyin or initials (`稻花香`, `wuchang`, `wc`). Only the first "
            f"{MAX_QUERY_CHARS} characters and 5 words are used; every word must match."
        ),
    )
    category_id: Annotated[int | None, DigitsOnly] = Field(
        None, ge=1, le=MAX_ID, description="this category and all below it"
    )
    min_price_fen: Annotated[int | None, DigitsOnly] = Field(None, ge=0, le=MAX_PRICE_FEN)
    max_price_fen: Annotated[int | None, DigitsOnly] = Field(None, ge=0, le=MAX_PRICE_FEN)
    origin: str | None = Field(None, max_length=200, description="part of the origin, e.g. 五常")
    sort: SortOption | None = Field(
        None, description="default: relevance when searching, otherwise the shop's own order"
    )


class ProductListPage(Page[ProductListItem]):
    """`total` is exact up to 10,000 products; past that it is 10,000 and `total_exact` is false."""

    total_exact: bool = True
