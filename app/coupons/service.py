"""Coupons: staff create and pause batches; customers claim coupons and see theirs; checkout spends one
(app.checkout.pipeline, through its store); a cancelled unpaid order gives its coupon back
(`release_for_orders`, registered with app.orders.releases by app.flows.order_kinds).

Claiming is exact under any concurrency: the customer's row is locked (their claims are counted under it,
so `per_customer_limit` holds), then one conditional UPDATE takes a coupon from the batch only while
`claimed_quantity < total_quantity` (so `total_quantity` holds). The customer's row comes first, as in
checkout, so the two never wait on each other in a cycle.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.coupons import discount, repository
from app.coupons.errors import (
    CouponBatchNotFound,
    CouponLimitReached,
    CouponNotClaimable,
    CouponScopeInvalid,
    CouponSoldOut,
)
from app.coupons.models import ClaimStatus, Coupon, CouponClaim
from app.coupons.schemas import (
    ClaimableCouponRead,
    ClaimRead,
    CouponCreate,
    CouponRead,
    CouponTerms,
    MyCouponRead,
)
from app.db import utcnow
from app.kit.pagination import Page, PageParams
from app.users import repository as users_repository

# Codes are read aloud and typed on phones: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CLAIM_CODE_LENGTH = 12  # ~59 bits: not guessable from another customer's code


def new_code(length: int = CLAIM_CODE_LENGTH) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def normalise_code(code: str) -> str:
    return code.strip().upper()


def claim_status(status: str, expires_at: datetime, now: datetime) -> str:
    """unused, used or expired (an unused coupon past its expiry)."""
    if status == ClaimStatus.unused and expires_at <= now:
        return "expired"
    return status


def terms_of(row: Any) -> discount.Terms:
    return discount.Terms(row.kind, row.amount_fen, row.percent_off, row.max_discount_fen, row.threshold_fen)


# ---------------------------------------------------------------------------------------------- reading


async def get_or_raise(session: AsyncSession, coupon_id: int) -> Coupon:
    coupon = await repository.get(session, coupon_id)
    if coupon is None:
        raise CouponBatchNotFound("No such coupon.")
    return coupon


def _terms(coupon: Coupon, scope: tuple[list[int], list[int]]) -> dict[str, Any]:
    return {
        "id": coupon.id,
        "name": coupon.name,
        "kind": coupon.kind,
        "amount_fen": coupon.amount_fen,
        "percent_off": coupon.percent_off,
        "max_discount_fen": coupon.max_discount_fen,
        "threshold_fen": coupon.threshold_fen,
        "starts_at": coupon.starts_at,
        "ends_at": coupon.ends_at,
        "per_customer_limit": coupon.per_customer_limit,
        "product_ids": scope[0],
        "category_ids": scope[1],
    }


async def _staff_reads(session: AsyncSession, coupons: Sequence[Coupon]) -> list[CouponRead]:
    ids = [c.id for c in coupons]
    scopes = await repository.scopes(session, ids)
    used = await repository.used_counts(session, ids)
    return [
        CouponRead(
            **_terms(c, scopes[c.id]),
            code=c.code,
            total_quantity=c.total_quantity,
            claimed_count=c.claimed_quantity,
            used_count=used.get(c.id, 0),
            status="paused" if c.is_paused else "active",
            created_at=c.created_at,
        )
        for c in coupons
    ]


async def read_for_staff(session: AsyncSession, coupon_id: int) -> CouponRead:
    return (await _staff_reads(session, [await get_or_raise(session, coupon_id)]))[0]


async def list_for_staff(session: AsyncSession, params: PageParams) -> Page[CouponRead]:
    coupons, total = await repository.list_all(session, params.offset, params.size)
    return Page(items=await _staff_reads(session, coupons), total=total, page=params.page, size=params.size)


async def list_claimable(session: AsyncSession, params: PageParams) -> Page[ClaimableCouponRead]:
    """The 领券中心: batches that can be claimed now, those ending soonest first."""
    coupons, total = await repository.list_claimable(session, utcnow(), params.offset, params.size)
    scopes = await repository.scopes(session, [c.id for c in coupons])
    items = [
        ClaimableCouponRead(**_terms(c, scopes[c.id]), remaining=c.total_quantity - c.claimed_quantity)
        for c in coupons
    ]
    return Page(items=items, total=total, page=params.page, size=params.size)


async def list_mine(
    session: AsyncSession, user_id: int, status: str | None, params: PageParams
) -> Page[MyCouponRead]:
    now = utcnow()
    rows, total = await repository.list_claims(session, user_id, status, now, params.offset, params.size)
    scopes = await repository.scopes(session, {coupon.id for _, coupon in rows})
    items = [_my_read(claim, coupon, scopes[coupon.id], now) for claim, coupon in rows]
    return Page(items=items, total=total, page=params.page, size=params.size)


def _my_read(
    claim: CouponClaim, coupon: Coupon, scope: tuple[list[int], list[int]], now: datetime
) -> MyCouponRead:
    return MyCouponRead(
        id=claim.id,
        coupon_id=claim.coupon_id,
        code=claim.code,
        status=claim_status(claim.status, claim.expires_at, now),
        expires_at=claim.expires_at,
        claimed_at=claim.claimed_at,
        used_at=claim.used_at,
        order_id=claim.order_id,
        coupon=CouponTerms(**_terms(coupon, scope)),
    )


# ---------------------------------------------------------------------------------------------- staff


async def create(session: AsyncSession, staff_id: int, data: CouponCreate) -> CouponRead:
    missing_products = await repository.missing_products(session, data.product_ids)
    missing_categories = await repository.missing_categories(session, data.category_ids)
    if missing_products or missing_categories:
        raise CouponScopeInvalid(
            "Some products or categories in the scope do not exist.",
            product_ids=missing_products,
            category_ids=missing_categories,
        )
    now = utcnow()
    coupon = await repository.insert(
        session,
        Coupon(
            code="CP" + new_code(8),
            name=data.name,
            kind=data.kind,
            amount_fen=data.amount_fen,
            percent_off=data.percent_off,
            max_discount_fen=data.max_discount_fen,
            threshold_fen=data.threshold_fen,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            total_quantity=data.total_quantity,
            claimed_quantity=0,
            per_customer_limit=data.per_customer_limit,
            whole_shop=not (data.product_ids or data.category_ids),
            is_paused=False,
            created_by=staff_id,
            created_at=now,
            updated_at=now,
        ),
        data.product_ids,
        data.category_ids,
    )
    await events.emit(
        session,
        "coupon.created",
        {
            "coupon_id": coupon.id,
            "code": coupon.code,
            "name": coupon.name,
            "kind": coupon.kind,
            "total_quantity": coupon.total_quantity,
            "starts_at": coupon.starts_at.isoformat(),
            "ends_at": coupon.ends_at.isoformat(),
            "created_by": staff_id,
        },
        subject=f"coupon/{coupon.id}",
    )
    return await read_for_staff(session, coupon.id)


async def set_paused(session: AsyncSession, staff_id: int, coupon_id: int, paused: bool) -> CouponRead:
    """Pause (no more claims; coupons already claimed stay usable) or resume a batch."""
    coupon = await get_or_raise(session, coupon_id)
    if coupon.is_paused != paused:
        now = utcnow()
        await repository.set_paused(session, coupon_id, paused, now)
        await events.emit(
            session,
            "coupon.status_changed",
            {
                "coupon_id": coupon_id,
                "status": "paused" if paused else "active",
                "by": staff_id,
                "changed_at": now.isoformat(),
            },
            subject=f"coupon/{coupon_id}",
        )
    return await read_for_staff(session, coupon_id)


# ---------------------------------------------------------------------------------------------- customers


def _not_claimable(coupon: Coupon, now: datetime) -> CouponNotClaimable | None:
    if coupon.is_paused:
        return CouponNotClaimable("This coupon is paused.", reason="paused")
    if now < coupon.starts_at:
        return CouponNotClaimable("This coupon cannot be claimed yet.", reason="not_started")
    if now >= coupon.ends_at:
        return CouponNotClaimable("This coupon has ended.", reason="ended")
    return None


async def claim(session: AsyncSession, user_id: int, coupon_id: int) -> ClaimRead:
    coupon = await get_or_raise(session, coupon_id)
    now = utcnow()
    refusal = _not_claimable(coupon, now)
    if refusal is not None:
        raise refusal
    await users_repository.lock(session, user_id)
    if await repository.count_claims(session, coupon_id, user_id) >= coupon.per_customer_limit:
        raise CouponLimitReached(
            f"At most {coupon.per_customer_limit} of this coupon per customer.",
            limit=coupon.per_customer_limit,
        )
    if not await repository.take_one(session, coupon_id, now):
        coupon = await get_or_raise(session, coupon_id)  # paused or ended meanwhile, or all claimed
        raise _not_claimable(coupon, now) or CouponSoldOut("Every coupon of this batch has been claimed.")
    claimed = await repository.insert_claim(
        session,
        CouponClaim(
            coupon_id=coupon_id,
            user_id=user_id,
            code=new_code(),
            status=ClaimStatus.unused.value,
            expires_at=coupon.ends_at,
            claimed_at=now,
        ),
    )
    await events.emit(
        session,
        "coupon.claimed",
        {
            "claim_id": claimed.id,
            "coupon_id": coupon_id,
            "user_id": user_id,
            "expires_at": claimed.expires_at.isoformat(),
            "claimed_at": now.isoformat(),
        },
        subject=f"coupon/{coupon_id}",
    )
    return ClaimRead(
        id=claimed.id,
        coupon_id=coupon_id,
        code=claimed.code,
        status="unused",
        expires_at=claimed.expires_at,
    )


# ---------------------------------------------------------------------------------------------- orders


async def release_for_orders(session: AsyncSession, order_ids: Sequence[int]) -> None:
    """The release hook (app.orders): unpaid orders were cancelled or timed out, in this transaction; the
    coupons they used are unused again (one whose validity has ended reads as expired)."""
    now = utcnow()
    for claim in await repository.release_for_orders(session, order_ids):
        await events.emit(
            session,
            "coupon.released",
            {
                "claim_id": claim.id,
                "coupon_id": claim.coupon_id,
                "user_id": claim.user_id,
                "order_id": claim.order_id,
                "expired": claim.expires_at <= now,
                "released_at": now.isoformat(),
            },
            subject=f"coupon/{claim.coupon_id}",
        )


# ---------------------------------------------------------------------------------------------- checkout page


class Line(NamedTuple):
    sku_id: int
    product_id: int
    subtotal_fen: int


class CouponOption(NamedTuple):
    coupon: MyCouponRead
    discount_fen: int  # 0: not applicable to these lines (see `reason`)
    reason: str | None


async def options_for(session: AsyncSession, user_id: int, lines: Sequence[Line]) -> list[CouponOption]:
    """The customer's unused coupons with what each would take off these lines, the best first (ties: the
    one expiring first). The same arithmetic as checkout; checkout decides again when the order is placed."""
    page = await list_mine(session, user_id, "unused", PageParams(page=1, size=100))
    now = utcnow()
    scoped = [c.coupon.id for c in page.items if c.coupon.product_ids or c.coupon.category_ids]
    eligible = await repository.eligible_product_ids(session, scoped, {line.product_id for line in lines})
    options = []
    for mine in page.items:
        terms = mine.coupon
        whole_shop = not (terms.product_ids or terms.category_ids)
        base = sum(
            line.subtotal_fen
            for line in lines
            if whole_shop or line.product_id in eligible.get(terms.id, set())
        )
        off = discount.discount_fen(terms_of(terms), base)
        reason = None
        if now < terms.starts_at:
            reason, off = "not_started", 0
        elif base == 0:
            reason = "out_of_scope"
        elif off == 0:
            reason = "below_threshold"
        options.append(CouponOption(mine, off, reason))
    options.sort(key=lambda o: (-o.discount_fen, o.coupon.expires_at, o.coupon.id))
    return options
