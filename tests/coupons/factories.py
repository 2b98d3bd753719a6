"""Plain factory functions with keyword overrides for coupons: a batch made as staff would make it, and
claims made through the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from app.coupons import service
from app.coupons.models import Coupon, CouponClaim
from app.coupons.schemas import CouponCreate
from app.db import session_scope, utcnow
from app.users.models import User
from tests.users.factories import auth


async def create_coupon(**overrides: Any) -> Coupon:
    """A running batch (started an hour ago, ends in a week): ¥10 off the whole shop, 100 of them, one per
    customer, unless overridden."""
    now = utcnow()
    fields: dict[str, Any] = dict(
        name="新米尝鲜券",
        kind="fixed",
        amount_fen=1000,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=7),
        total_quantity=100,
        per_customer_limit=1,
    )
    fields.update(overrides)
    async with session_scope() as session:
        read = await service.create(session, 1, CouponCreate.model_validate(fields))
    return await get_coupon(read.id)


async def get_coupon(coupon_id: int) -> Coupon:
    async with session_scope() as session:
        return await session.get(Coupon, coupon_id)


async def claims_of(coupon_id: int) -> list[CouponClaim]:
    async with session_scope() as session:
        rows = await session.execute(
            select(CouponClaim).where(CouponClaim.coupon_id == coupon_id).order_by(CouponClaim.id)
        )
        return list(rows.scalars())


async def get_claim(claim_id: int) -> CouponClaim:
    async with session_scope() as session:
        return await session.get(CouponClaim, claim_id)


async def claim(client: httpx.AsyncClient, user: User, coupon: Coupon | int) -> httpx.Response:
    coupon_id = coupon if isinstance(coupon, int) else coupon.id
    return await client.post(f"/api/coupons/{coupon_id}/claim", headers=auth(user))


async def claimed_code(client: httpx.AsyncClient, user: User, coupon: Coupon | int) -> str:
    response = await claim(client, user, coupon)
    assert response.status_code == 201, response.text
    return response.json()["code"]


async def expire(coupon_id: int) -> None:
    """Move a batch (and its claimed coupons) past its end, as if time had passed."""
    past = utcnow() - timedelta(seconds=1)
    async with session_scope() as session:
        await session.execute(
            update(Coupon)
            .where(Coupon.id == coupon_id)
            .values(ends_at=past, starts_at=past - timedelta(days=1))
        )
        await session.execute(
            update(CouponClaim).where(CouponClaim.coupon_id == coupon_id).values(expires_at=past)
        )
