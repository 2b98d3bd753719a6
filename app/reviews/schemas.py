from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from app.kit.params import MAX_ID
from app.kit.schemas import InputModel, OutputModel

MAX_TEXT = 500
MAX_IMAGES = 9
NO_REASON = "未注明原因"

ImageId = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]


class ReviewCreate(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"rating": 5, "text": "米粒饱满，煮饭清香软糯。", "image_ids": [12, 13]}
        }
    )

    rating: Annotated[int, Field(ge=1, le=5, strict=True, description="1 to 5 stars")]
    text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TEXT)] = ""
    image_ids: Annotated[
        list[ImageId], Field(max_length=MAX_IMAGES, description="from POST /api/review-images, at most 9")
    ] = []


class ReviewUpdate(ReviewCreate):
    """The whole review again (rating, text, photos): a review is edited once, within 7 days."""


class HideRequest(InputModel):
    model_config = ConfigDict(json_schema_extra={"example": {"reason": "广告内容"}})

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = Field(
        default=NO_REASON, description="kept with the review (the body may be left out)"
    )


class ReplyRequest(InputModel):
    model_config = ConfigDict(json_schema_extra={"example": {"text": "感谢您的支持，欢迎再来！"}})

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]


class ReviewImageRead(OutputModel):
    id: int
    url: str


class ReviewRead(OutputModel):
    """A review as the public sees it."""

    id: int
    rating: int
    text: str
    images: list[str]
    nickname_masked: str = Field(description="稻**香: the first and last character of the nickname")
    created_at: datetime
    reply: str | None
    sku_name: str
    batch_nos: list[str] = Field(description='the batches the line was shipped from ("评价来自批次 …")')
    is_automatic: bool = Field(description="the shop's default 5-star review of an unreviewed line")
    edited: bool


class MyReviewRead(ReviewRead):
    order_id: int
    product_id: int
    sku_id: int
    status: Literal["visible", "hidden"]
    editable_until: datetime | None = Field(description="null once edited (or automatic)")


class ReviewAdminRead(MyReviewRead):
    user_id: int
    hidden_reason: str | None
    hidden_at: datetime | None
    replied_at: datetime | None
