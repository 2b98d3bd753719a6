from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Category, Product, Sku
from app.coupons.models import ClaimStatus, Coupon, CouponCategory, CouponClaim, CouponProduct

UNUSED, USED = ClaimStatus.unused.value, ClaimStatus.used.value


# ---------------------------------------------------------------------------------------------- coupons


async def insert(
    session: AsyncSession, coupon: Coupon, product_ids: Sequence[int], category_ids: Sequence[int]
) -> Coupon:
    session.add(coupon)
    await session.flush()
    session.add_all(CouponProduct(coupon_id=coupon.id, product_id=pid) for pid in product_ids)
    session.add_all(CouponCategory(coupon_id=coupon.id, category_id=cid) for cid in category_ids)
    await session.flush()
    return coupon


async def missing_products(session: AsyncSession, ids: Sequence[int]) -> list[int]:
    found = set((await session.execute(select(Product.id).where(Product.id.in_(ids)))).scalars())
    return sorted(set(ids) - found)


async def missing_categories(session: AsyncSession, ids: Sequence[int]) -> list[int]:
    found = set((await session.execute(select(Category.id).where(Category.id.in_(ids)))).scalars())
    return sorted(set(ids) - found)


async def get(session: AsyncSession, coupon_id: int) -> Coupon | None:
    return await session.get(Coupon, coupon_id, populate_existing=True)


async def scopes(session: AsyncSession, coupon_ids: Iterable[int]) -> dict[int, tuple[list[int], list[int]]]:
    """{coupon_id: (product_ids, category_ids)}, ascending."""
    ids = list(coupon_ids)
    out: dict[int, tuple[list[int], list[int]]] = {cid: ([], []) for cid in ids}
    if not ids:
        return out
    for cid, pid in await session.execute(
        select(CouponProduct.coupon_id, CouponProduct.product_id)
        .where(CouponProduct.coupon_id.in_(ids))
        .order_by(CouponProduct.product_id)
    ):
        out[cid][0].append(pid)
    for cid, cat in await session.execute(
        select(CouponCategory.coupon_id, CouponCategory.category_id)
        .where(CouponCategory.coupon_id.in_(ids))
        .order_by(CouponCategory.category_id)
    ):
        out[cid][1].append(cat)
    return out


async def used_counts(session: AsyncSession, coupon_ids: Iterable[int]) -> dict[int, int]:
    ids = list(coupon_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(CouponClaim.coupon_id, func.count())
        .where(CouponClaim.coupon_id.in_(ids), CouponClaim.status == USED)
        .group_by(CouponClaim.coupon_id)
    )
    return {cid: int(n) for cid, n in rows}


async def list_all(session: AsyncSession, offset: int, limit: int) -> tuple[Sequence[Coupon], int]:
    total = (await session.execute(select(func.count()).select_from(Coupon))).scalar_one()
    rows = await session.execute(select(Coupon).order_by(Coupon.id.desc()).offset(offset).limit(limit))
    return rows.scalars().all(), int(total)


def _claimable(now: datetime) -> list[Any]:
    return [
        Coupon.is_paused.is_(False),
        Coupon.starts_at <= now,
        Coupon.ends_at > now,
        Coupon.claimed_quantity < Coupon.total_quantity,
    ]


async def list_claimable(
    session: AsyncSession, now: datetime, offset: int, limit: int
) -> tuple[Sequence[Coupon], int]:
    conditions = _claimable(now)
    total = (await session.execute(select(func.count()).select_from(Coupon).where(*conditions))).scalar_one()
    rows = await session.execute(
        select(Coupon).where(*conditions).order_by(Coupon.ends_at, Coupon.id).offset(offset).limit(limit)
    )
    return rows.scalars().all(), int(total)


async def set_paused(session: AsyncSession, coupon_id: int, paused: bool, now: datetime) -> None:
    await session.execute(
        update(Coupon)
        .where(Coupon.id == coupon_id)
        .values(is_paused=paused, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def take_one(session: AsyncSession, coupon_id: int, now: datetime) -> bool:
    """One more claimed, if the batch is claimable now and not all claimed: one conditional UPDATE, so
    concurrent claims never pass total_quantity."""
    result = await session.execute(
        update(Coupon)
        .where(Coupon.id == coupon_id, *_claimable(now))
        .values(claimed_quantity=Coupon.claimed_quantity + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# ---------------------------------------------------------------------------------------------- claims


async def count_claims(session: AsyncSession, coupon_id: int, user_id: int) -> int:
    return int(
        (
            await session.execute(
                select(func.count())
                .select_from(CouponClaim)
                .where(CouponClaim.coupon_id == coupon_id, CouponClaim.user_id == user_id)
            )
        ).scalar_one()
    )


async def insert_claim(session: AsyncSession, claim: CouponClaim) -> CouponClaim:
    session.add(claim)
    await session.flush()
    return claim


def _status_filter(status: str | None, now: datetime) -> list[Any]:
    if status == "unused":
        return [CouponClaim.status == UNUSED, CouponClaim.expires_at > now]
    if status == "expired":
        return [CouponClaim.status == UNUSED, CouponClaim.expires_at <= now]
    if status == "used":
        return [CouponClaim.status == USED]
    return []


async def list_claims(
    session: AsyncSession, user_id: int, status: str | None, now: datetime, offset: int, limit: int
) -> tuple[Sequence[tuple[CouponClaim, Coupon]], int]:
    conditions = [CouponClaim.user_id == user_id, *_status_filter(status, now)]
    total = (
        await session.execute(select(func.count()).select_from(CouponClaim).where(*conditions))
    ).scalar_one()
    rows = await session.execute(
        select(CouponClaim, Coupon)
        .join(Coupon, Coupon.id == CouponClaim.coupon_id)
        .where(*conditions)
        .order_by(CouponClaim.expires_at, CouponClaim.id)
        .offset(offset)
        .limit(limit)
    )
    return [(claim, coupon) for claim, coupon in rows.all()], int(total)


# ---------------------------------------------------------------------------------------------- checkout


CHECKOUT_COLUMNS = (
    CouponClaim.id,
    CouponClaim.status,
    CouponClaim.coupon_id,
    Coupon.kind,
    Coupon.amount_fen,
    Coupon.percent_off,
    Coupon.max_discount_fen,
    Coupon.threshold_fen,
    Coupon.starts_at,
    CouponClaim.expires_at,
    Coupon.whole_shop,
)


async def claim_for_checkout(session: AsyncSession, user_id: int, code: str) -> Any | None:
    """The customer's coupon with this code and its terms (CHECKOUT_COLUMNS), or None."""
    return (
        await session.execute(
            select(*CHECKOUT_COLUMNS)
            .join(Coupon, Coupon.id == CouponClaim.coupon_id)
            .where(CouponClaim.code == code, CouponClaim.user_id == user_id)
        )
    ).one_or_none()


def _in_scope(coupon_id: Any) -> Any:
    """Products (Product, joined with its Category) in the coupon's scope: named, or in a named category
    or a direct subcategory of one."""
    return or_(
        exists().where(CouponProduct.coupon_id == coupon_id, CouponProduct.product_id == Product.id),
        exists().where(
            CouponCategory.coupon_id == coupon_id,
            or_(
                CouponCategory.category_id == Product.category_id,
                CouponCategory.category_id == Category.parent_id,
            ),
        ),
    )


async def eligible_sku_ids(session: AsyncSession, coupon_id: int, sku_ids: Iterable[int]) -> set[int]:
    rows = await session.execute(
        select(Sku.id)
        .join(Product, Product.id == Sku.product_id)
        .outerjoin(Category, Category.id == Product.category_id)
        .where(Sku.id.in_(list(sku_ids)), _in_scope(coupon_id))
    )
    return set(rows.scalars())


async def eligible_product_ids(
    session: AsyncSession, coupon_ids: Iterable[int], product_ids: Iterable[int]
) -> dict[int, set[int]]:
    """{coupon_id: the given products in its scope}, for scoped coupons."""
    out: dict[int, set[int]] = defaultdict(set)
    pids = list(product_ids)
    for coupon_id in coupon_ids:
        rows = await session.execute(
            select(Product.id)
            .outerjoin(Category, Category.id == Product.category_id)
            .where(Product.id.in_(pids), _in_scope(coupon_id))
        )
        out[coupon_id] = set(rows.scalars())
    return out


async def use_claim(session: AsyncSession, claim_id: int, order_id: int, now: datetime) -> bool:
    """unused (and no order) → used by `order_id`; False when another order has it already."""
    result = await session.execute(
        update(CouponClaim)
        .where(CouponClaim.id == claim_id, CouponClaim.status == UNUSED, CouponClaim.order_id.is_(None))
        .values(status=USED, order_id=order_id, used_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def release_for_orders(session: AsyncSession, order_ids: Sequence[int]) -> list[CouponClaim]:
    """Give back the coupons these orders used (each at most once: a conditional UPDATE per coupon)."""
    if not order_ids:
        return []
    claims = (
        (
            await session.execute(
                select(CouponClaim)
                .where(CouponClaim.order_id.in_(list(order_ids)), CouponClaim.status == USED)
                .order_by(CouponClaim.id)
            )
        )
        .scalars()
        .all()
    )
    released = []
    for claim in claims:
        result = await session.execute(
            update(CouponClaim)
            .where(
                and_(
                    CouponClaim.id == claim.id,
                    CouponClaim.order_id == claim.order_id,
                    CouponClaim.status == USED,
                )
            )
            .values(status=UNUSED, order_id=None, used_at=None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            released.append(claim)
    return released
