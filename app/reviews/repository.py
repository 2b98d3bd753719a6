from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.orders.models import Order, OrderItem, OrderStatus
from app.reviews.models import Review, ReviewImage, ReviewStatus
from app.traceability.models import Batch, BatchAllocation
from app.users.models import User


async def order_line(
    session: AsyncSession, order_id: int, user_id: int, sku_id: int
) -> tuple[Order, OrderItem] | None:
    row = (
        await session.execute(
            select(Order, OrderItem)
            .join(OrderItem, OrderItem.order_id == Order.id)
            .where(Order.id == order_id, Order.user_id == user_id, OrderItem.sku_id == sku_id)
            .order_by(OrderItem.id)
            .limit(1)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def batch_nos(session: AsyncSession, order_item_id: int) -> list[str]:
    rows = await session.execute(
        select(Batch.batch_no)
        .join(BatchAllocation, BatchAllocation.batch_id == Batch.id)
        .where(BatchAllocation.order_item_id == order_item_id)
        .order_by(Batch.batch_no)
    )
    return list(rows.scalars())


async def nickname(session: AsyncSession, user_id: int) -> str:
    return (await session.execute(select(User.nickname).where(User.id == user_id))).scalar_one_or_none() or ""


async def insert_once(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """The new review's id, or None when the line already has one. The unique order_item_id decides, also
    between concurrent transactions (the second waits for the first, then finds the duplicate and inserts
    nothing). INSERT IGNORE rather than a savepoint: SQLite's driver would commit a savepoint's release."""
    result = await session.execute(
        insert(Review)
        .values(**values)
        .prefix_with("IGNORE", dialect="mysql")
        .prefix_with("IGNORE", dialect="mariadb")
        .prefix_with("OR IGNORE", dialect="sqlite")
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return int(result.inserted_primary_key[0])


async def exists_for_line(session: AsyncSession, order_item_id: int) -> bool:
    return bool(
        (await session.execute(select(exists().where(Review.order_item_id == order_item_id)))).scalar()
    )


async def get(session: AsyncSession, review_id: int, *, for_update: bool = False) -> Review | None:
    stmt = select(Review).where(Review.id == review_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def get_for_line(
    session: AsyncSession, order_item_id: int, *, for_update: bool = False
) -> Review | None:
    stmt = select(Review).where(Review.order_item_id == order_item_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def move(session: AsyncSession, review_id: int, where: list[Any], values: dict[str, Any]) -> bool:
    """A conditional UPDATE of one review: True when it matched (the move happened here, exactly once)."""
    result = await session.execute(
        update(Review)
        .where(Review.id == review_id, *where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def insert_image(session: AsyncSession, user_id: int, url: str, at: datetime) -> ReviewImage:
    image = ReviewImage(user_id=user_id, url=url, created_at=at)
    session.add(image)
    await session.flush()
    return image


async def take_images(
    session: AsyncSession, user_id: int, review_id: int, image_ids: Sequence[int]
) -> list[str] | None:
    """Attach the customer's own unused photos (or this review's own) to the review, in the given order;
    None if any id is not one of them. Photos the review no longer names are let go."""
    await session.execute(
        update(ReviewImage)
        .where(ReviewImage.review_id == review_id, ReviewImage.id.not_in(list(image_ids) or [0]))
        .values(review_id=None)
        .execution_options(synchronize_session=False)
    )
    if not image_ids:
        return []
    taken = await session.execute(
        update(ReviewImage)
        .where(
            ReviewImage.id.in_(list(image_ids)),
            ReviewImage.user_id == user_id,
            (ReviewImage.review_id.is_(None)) | (ReviewImage.review_id == review_id),
        )
        .values(review_id=review_id)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != len(image_ids):  # type: ignore[attr-defined]
        return None
    urls = dict(
        (
            await session.execute(
                select(ReviewImage.id, ReviewImage.url).where(ReviewImage.id.in_(image_ids))
            )
        ).all()
    )
    return [urls[i] for i in image_ids]


async def image_ids_of(session: AsyncSession, review_id: int) -> list[int]:
    rows = await session.execute(
        select(ReviewImage.id, ReviewImage.url).where(ReviewImage.review_id == review_id)
    )
    review = await session.get(Review, review_id)
    position = {url: i for i, url in enumerate(review.images if review else [])}
    return [i for i, url in sorted(rows.all(), key=lambda row: position.get(row[1], 99))]


def _public(product_id: int, with_images: bool) -> list[Any]:
    where = [Review.product_id == product_id, Review.status == ReviewStatus.visible.value]
    if with_images:
        where.append(Review.has_images.is_(True))
    return where


async def list_public(
    session: AsyncSession, product_id: int, *, with_images: bool, offset: int, limit: int
) -> tuple[list[Review], int]:
    where = _public(product_id, with_images)
    total = (await session.execute(select(func.count()).select_from(Review).where(*where))).scalar_one()
    rows = await session.execute(
        select(Review).where(*where).order_by(Review.id.desc()).offset(offset).limit(limit)
    )
    return list(rows.scalars()), int(total)


async def list_all(
    session: AsyncSession, *, status: str | None, offset: int, limit: int
) -> tuple[list[Review], int]:
    where = [Review.status == status] if status else []
    total = (await session.execute(select(func.count()).select_from(Review).where(*where))).scalar_one()
    rows = await session.execute(
        select(Review).where(*where).order_by(Review.id.desc()).offset(offset).limit(limit)
    )
    return list(rows.scalars()), int(total)


async def due_for_auto_positive(
    session: AsyncSession, completed_before: datetime, completed_after: datetime, limit: int
) -> list[Any]:
    """Lines of orders completed between the two times that have no review, oldest first (the lower bound
    keeps each run to recent orders, through ix_orders_status_completed_at, however many there are)."""
    rows = await session.execute(
        select(
            OrderItem.id,
            OrderItem.order_id,
            OrderItem.product_id,
            OrderItem.sku_id,
            OrderItem.sku_name,
            Order.user_id,
        )
        .join(Order, Order.id == OrderItem.order_id)
        .where(
            Order.status == OrderStatus.completed.value,
            Order.completed_at <= completed_before,
            Order.completed_at > completed_after,
            ~exists().where(Review.order_item_id == OrderItem.id),
        )
        .order_by(OrderItem.id)
        .limit(limit)
    )
    return list(rows.all())
