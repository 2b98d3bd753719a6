"""Reviews (晒单评价): only buyers, once per order line, edited once within EDIT_DAYS; staff hide (reason
kept), show again and reply; the worker gives unreviewed lines a default 5-star review.

The product's aggregates (app.catalog.ratings) move in the review's own transaction by atomic increments:
+rating/+1 when a visible review appears, the difference when a visible review is edited, -rating/-1 when
one is hidden. Each of these is a conditional UPDATE of the review (`... WHERE status = 'visible'`), so
a move happens once however many requests race (on SQLite too, where FOR UPDATE means nothing); the unique
order_item_id makes creation happen once.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.catalog import images as catalog_images
from app.catalog import ratings
from app.catalog import repository as catalog_repository
from app.catalog.errors import ProductNotFound
from app.catalog.models import ProductStatus
from app.config import get_settings
from app.db import utcnow
from app.kit import storage
from app.kit.pagination import Page, PageParams
from app.orders.models import OrderStatus
from app.reviews import repository, screening
from app.reviews.errors import (
    AlreadyReviewed,
    OrderLineNotFound,
    OrderNotReviewable,
    ReviewImageInvalid,
    ReviewNotEditable,
    ReviewNotFound,
)
from app.reviews.models import Review, ReviewImage, ReviewStatus
from app.reviews.schemas import MyReviewRead, ReviewAdminRead, ReviewCreate, ReviewRead

EDIT_DAYS = 7
AUTO_BATCH = 200
# Lines due longer than this (the worker was stopped for months) are left without an automatic review.
AUTO_LOOKBACK = timedelta(days=90)


def mask_nickname(nickname: str) -> str:
    """稻花香 → 稻**香; one character → 稻**; none → 匿**名."""
    name = nickname.strip()
    if not name:
        return "匿**名"
    return name[0] + "**" + (name[-1] if len(name) > 1 else "")


def _batches(review: Review) -> list[str]:
    return [b for b in review.batch_nos.split(",") if b]


def _public(review: Review) -> dict[str, Any]:
    return {
        "id": review.id,
        "rating": review.rating,
        "text": review.text,
        "images": list(review.images or []),
        "nickname_masked": review.nickname_masked,
        "created_at": review.created_at,
        "reply": review.reply,
        "sku_name": review.sku_name,
        "batch_nos": _batches(review),
        "is_automatic": review.is_automatic,
        "edited": review.edited_at is not None,
    }


def editable_until(review: Review) -> datetime | None:
    if review.is_automatic or review.edited_at is not None:
        return None
    return review.created_at + timedelta(days=EDIT_DAYS)


def to_mine(review: Review) -> MyReviewRead:
    return MyReviewRead(
        **_public(review),
        order_id=review.order_id,
        product_id=review.product_id,
        sku_id=review.sku_id,
        status=review.status,
        editable_until=editable_until(review),
    )


def to_admin(review: Review) -> ReviewAdminRead:
    return ReviewAdminRead(
        **to_mine(review).model_dump(),
        user_id=review.user_id,
        hidden_reason=review.hidden_reason,
        hidden_at=review.hidden_at,
        replied_at=review.replied_at,
    )


# ---------------------------------------------------------------------------------------------- photos


def _store(user_id: int, jpeg: bytes) -> str:
    relative = Path("reviews") / str(user_id) / f"{secrets.token_hex(12)}.jpg"
    storage.write(get_settings().media_dir / relative, jpeg)
    return catalog_images.MEDIA_URL + relative.as_posix()


async def upload_image(session: AsyncSession, user_id: int, data: bytes) -> ReviewImage:
    """Checked and re-encoded exactly like a product image (type sniffed, size and pixel limits, EXIF
    dropped): app.catalog.images.process."""
    jpeg = await anyio.to_thread.run_sync(catalog_images.process, data)
    url = await anyio.to_thread.run_sync(_store, user_id, jpeg)
    return await repository.insert_image(session, user_id, url, utcnow())


async def _take_images(
    session: AsyncSession, user_id: int, review_id: int, image_ids: list[int]
) -> list[str]:
    if len(set(image_ids)) != len(image_ids):
        raise ReviewImageInvalid("每张照片只能用一次。")
    urls = await repository.take_images(session, user_id, review_id, image_ids)
    if urls is None:
        raise ReviewImageInvalid("照片不存在，或已用于其他评价。")
    return urls


# ---------------------------------------------------------------------------------------------- writing


async def _line(session: AsyncSession, user_id: int, order_id: int, sku_id: int) -> tuple[Any, Any]:
    found = await repository.order_line(session, order_id, user_id, sku_id)
    if found is None:
        raise OrderLineNotFound("没有这个订单商品。")
    return found


async def create(session: AsyncSession, user: Any, order_id: int, sku_id: int, data: ReviewCreate) -> Review:
    order, item = await _line(session, user.id, order_id, sku_id)
    if order.status != OrderStatus.completed:
        raise OrderNotReviewable("确认收货后才能评价。", order_status=order.status)
    if await repository.exists_for_line(session, item.id):
        raise AlreadyReviewed("这件商品已经评价过了。")
    screening.check(data.text)
    review = await _insert(
        session,
        item,
        user_id=user.id,
        rating=data.rating,
        text=data.text,
        nickname=user.nickname,
        automatic=False,
    )
    if review is None:
        raise AlreadyReviewed("这件商品已经评价过了。")
    if data.image_ids:
        review.images = await _take_images(session, user.id, review.id, data.image_ids)
        review.has_images = True
        await session.flush()
    return review


async def _insert(
    session: AsyncSession, item: Any, *, user_id: int, rating: int, text: str, nickname: str, automatic: bool
) -> Review | None:
    now = utcnow()
    review_id = await repository.insert_once(
        session,
        {
            "order_item_id": item.id,
            "order_id": item.order_id,
            "user_id": user_id,
            "product_id": item.product_id,
            "sku_id": item.sku_id,
            "sku_name": item.sku_name,
            "rating": rating,
            "text": text,
            "images": [],
            "has_images": False,
            "batch_nos": ",".join(await repository.batch_nos(session, item.id))[:200],
            "nickname_masked": mask_nickname(nickname),
            "is_automatic": automatic,
            "status": ReviewStatus.visible.value,
            "created_at": now,
            "updated_at": now,
        },
    )
    if review_id is None:
        return None
    await ratings.adjust(session, item.product_id, sum_delta=rating, count_delta=1)
    await events.emit(
        session,
        "review.created",
        {
            "review_id": review_id,
            "product_id": item.product_id,
            "order_id": item.order_id,
            "sku_id": item.sku_id,
            "user_id": user_id,
            "rating": rating,
            "is_automatic": automatic,
            "created_at": now.isoformat(),
        },
        subject=f"review/{review_id}",
    )
    review = await repository.get(session, review_id)
    assert review is not None
    return review


async def edit(session: AsyncSession, user: Any, order_id: int, sku_id: int, data: ReviewCreate) -> Review:
    _order, item = await _line(session, user.id, order_id, sku_id)
    found = await repository.get_for_line(session, item.id)
    if found is None or found.user_id != user.id:
        raise ReviewNotFound("这件商品还没有评价。")
    # Locked by its primary key first, like hide and unhide: an UPDATE that found the row through the
    # (status, id) index locked that entry before the row, and deadlocked with a hide holding the row.
    review = await _get_or_raise(session, found.id, for_update=True)
    screening.check(data.text)
    now = utcnow()
    # One conditional UPDATE decides (a second edit, a hide or the end of the window racing with this one):
    # the rating changes only here and only once, so the rating read above is the one being replaced.
    moved = await repository.move(
        session,
        review.id,
        [
            Review.edited_at.is_(None),
            Review.is_automatic.is_(False),
            Review.status == ReviewStatus.visible.value,
            Review.created_at >= now - timedelta(days=EDIT_DAYS),
        ],
        {"rating": data.rating, "text": data.text, "edited_at": now, "updated_at": now},
    )
    if not moved:
        raise ReviewNotEditable(f"评价只能在 {EDIT_DAYS} 天内修改一次。")
    urls = await _take_images(session, user.id, review.id, data.image_ids)
    await repository.move(session, review.id, [], {"images": urls, "has_images": bool(urls)})
    await ratings.adjust(session, review.product_id, sum_delta=data.rating - review.rating, count_delta=0)
    return await _get_or_raise(session, review.id, for_update=True)


async def hide(session: AsyncSession, staff: Any, review_id: int, reason: str) -> Review:
    # The row is locked first (MariaDB: later hides, shows and edits of it wait here), then moved by a
    # conditional UPDATE (which alone decides on SQLite, where FOR UPDATE means nothing).
    await _get_or_raise(session, review_id, for_update=True)
    now = utcnow()
    moved = await repository.move(
        session,
        review_id,
        [Review.status == ReviewStatus.visible.value],
        {
            "status": ReviewStatus.hidden.value,
            "hidden_reason": reason,
            "hidden_at": now,
            "hidden_by": staff.id,
        },
    )
    review = await _get_or_raise(session, review_id)  # after the UPDATE: the rating as it now stands
    if moved:
        await ratings.adjust(session, review.product_id, sum_delta=-review.rating, count_delta=-1)
        await events.emit(
            session,
            "review.hidden",
            {
                "review_id": review.id,
                "product_id": review.product_id,
                "reason": reason,
                "hidden_by": staff.id,
                "hidden_at": now.isoformat(),
            },
            subject=f"review/{review.id}",
        )
    return review


async def unhide(session: AsyncSession, staff: Any, review_id: int) -> Review:
    await _get_or_raise(session, review_id, for_update=True)
    # The reason and who hid it stay on record.
    moved = await repository.move(
        session,
        review_id,
        [Review.status == ReviewStatus.hidden.value],
        {"status": ReviewStatus.visible.value},
    )
    review = await _get_or_raise(session, review_id)
    if moved:
        await ratings.adjust(session, review.product_id, sum_delta=review.rating, count_delta=1)
    return review


async def reply(session: AsyncSession, staff: Any, review_id: int, text: str) -> Review:
    await _get_or_raise(session, review_id)
    await repository.move(session, review_id, [], {"reply": text, "replied_at": utcnow()})
    return await _get_or_raise(session, review_id)


async def _get_or_raise(session: AsyncSession, review_id: int, *, for_update: bool = False) -> Review:
    review = await repository.get(session, review_id, for_update=for_update)
    if review is None:
        raise ReviewNotFound("No such review.")
    return review


# ---------------------------------------------------------------------------------------------- reading


async def list_public(
    session: AsyncSession, product_id: int, params: PageParams, *, with_images: bool
) -> Page[ReviewRead]:
    product = await catalog_repository.get_product(session, product_id)
    if product is None or product.status != ProductStatus.published:
        raise ProductNotFound("No such product.")
    rows, total = await repository.list_public(
        session, product_id, with_images=with_images, offset=params.offset, limit=params.size
    )
    items = [ReviewRead(**_public(r)) for r in rows]
    return Page(items=items, total=total, page=params.page, size=params.size)


async def list_for_staff(
    session: AsyncSession, params: PageParams, status: str | None
) -> Page[ReviewAdminRead]:
    rows, total = await repository.list_all(session, status=status, offset=params.offset, limit=params.size)
    return Page(items=[to_admin(r) for r in rows], total=total, page=params.page, size=params.size)


async def line_with_review(
    session: AsyncSession, user_id: int, order_id: int, sku_id: int
) -> tuple[Any, Any, Review | None]:
    """(order, line, its review or None) of the customer's own order (for the review form page)."""
    order, item = await _line(session, user_id, order_id, sku_id)
    return order, item, await repository.get_for_line(session, item.id)


async def image_ids_of(session: AsyncSession, review_id: int) -> list[int]:
    return await repository.image_ids_of(session, review_id)


async def latest(session: AsyncSession, product_id: int, count: int = 3) -> tuple[list[ReviewRead], int]:
    """A product's newest visible reviews and how many have photos (for the product page)."""
    rows, _total = await repository.list_public(session, product_id, with_images=False, offset=0, limit=count)
    _rows, with_photos = await repository.list_public(
        session, product_id, with_images=True, offset=0, limit=0
    )
    return [ReviewRead(**_public(r)) for r in rows], with_photos


# ---------------------------------------------------------------------------------------------- the job


async def auto_positive(session: AsyncSession, *, limit: int = AUTO_BATCH) -> int:
    """Give every line of an order completed REVIEW_AUTO_POSITIVE_DAYS ago without a review the shop's
    default 5-star review (no text, marked automatic). Safe with several workers at once: the unique
    order_item_id lets one insert win; the others skip the line."""
    cutoff = utcnow() - timedelta(days=get_settings().review_auto_positive_days)
    created = 0
    lines = await repository.due_for_auto_positive(session, cutoff, cutoff - AUTO_LOOKBACK, limit)
    for line in lines:
        review = await _insert(
            session,
            line,
            user_id=line.user_id,
            rating=5,
            text="",
            nickname=await repository.nickname(session, line.user_id),
            automatic=True,
        )
        created += review is not None
    return created
