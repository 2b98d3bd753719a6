"""Coupons: the 领券中心 (GET /api/coupons), claiming, my coupons, and the staff routes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from app.coupons import service
from app.coupons.errors import (
    CouponBatchNotFound,
    CouponLimitReached,
    CouponNotClaimable,
    CouponScopeInvalid,
    CouponSoldOut,
)
from app.coupons.schemas import ClaimableCouponRead, ClaimRead, CouponCreate, CouponRead, MyCouponRead
from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath
from app.users.dependencies import CurrentPrincipal, StaffUser

router = APIRouter()
TAGS = ["coupons"]
ADMIN_TAGS = ["coupons (staff)"]

ClaimStatusQuery = Annotated[
    Literal["unused", "used", "expired"] | None,
    Query(alias="status", description="only coupons in this status (all of mine without it)"),
]


@router.get(
    "/api/coupons",
    response_model=Page[ClaimableCouponRead],
    tags=TAGS,
    summary="Coupons that can be claimed now (领券中心), those ending soonest first",
    responses=problem_responses(),
)
async def list_claimable(session: SessionDep, page: PageParamsDep) -> Page[ClaimableCouponRead]:
    return await service.list_claimable(session, page)


@router.post(
    "/api/coupons/{coupon_id}/claim",
    status_code=status.HTTP_201_CREATED,
    response_model=ClaimRead,
    tags=TAGS,
    summary="Claim one coupon of a batch; its code is what checkout takes as coupon_code",
    responses=problem_responses(
        NotAuthenticated,
        CouponBatchNotFound,
        CouponLimitReached,
        CouponSoldOut,
        CouponNotClaimable,
        validation=False,
    ),
    operation_id="claimCoupon",
)
async def claim(coupon_id: IdPath, user: CurrentPrincipal, session: SessionDep) -> ClaimRead:
    return await service.claim(session, user.id, coupon_id)


@router.get(
    "/api/users/me/coupons",
    response_model=Page[MyCouponRead],
    tags=TAGS,
    summary="My coupons (unused, used, expired), those expiring soonest first",
    responses=problem_responses(NotAuthenticated),
)
async def my_coupons(
    user: CurrentPrincipal, session: SessionDep, page: PageParamsDep, status_: ClaimStatusQuery = None
) -> Page[MyCouponRead]:
    return await service.list_mine(session, user.id, status_, page)


# ---------------------------------------------------------------------------------------------- staff


@router.post(
    "/api/admin/coupons",
    status_code=status.HTTP_201_CREATED,
    response_model=CouponRead,
    tags=ADMIN_TAGS,
    summary="Create a batch of coupons (fixed amount, 满减 with a threshold, or percent off)",
    responses=problem_responses(NotAuthenticated, Forbidden, CouponScopeInvalid),
    operation_id="createCoupon",
)
async def create(data: CouponCreate, staff: StaffUser, session: SessionDep) -> CouponRead:
    return await service.create(session, staff.id, data)


@router.get(
    "/api/admin/coupons",
    response_model=Page[CouponRead],
    tags=ADMIN_TAGS,
    summary="Every batch with its usage (claimed, used), newest first",
    responses=problem_responses(NotAuthenticated, Forbidden),
    operation_id="listCouponsForStaff",
)
async def list_for_staff(staff: StaffUser, session: SessionDep, page: PageParamsDep) -> Page[CouponRead]:
    return await service.list_for_staff(session, page)


@router.get(
    "/api/admin/coupons/{coupon_id}",
    response_model=CouponRead,
    tags=ADMIN_TAGS,
    summary="One batch with its usage",
    responses=problem_responses(NotAuthenticated, Forbidden, CouponBatchNotFound, validation=False),
    operation_id="getCouponForStaff",
)
async def get_for_staff(coupon_id: IdPath, staff: StaffUser, session: SessionDep) -> CouponRead:
    return await service.read_for_staff(session, coupon_id)


@router.post(
    "/api/admin/coupons/{coupon_id}/pause",
    response_model=CouponRead,
    tags=ADMIN_TAGS,
    summary="Stop claims of a batch (coupons already claimed stay usable)",
    responses=problem_responses(NotAuthenticated, Forbidden, CouponBatchNotFound, validation=False),
    operation_id="pauseCoupon",
)
async def pause(coupon_id: IdPath, staff: StaffUser, session: SessionDep) -> CouponRead:
    return await service.set_paused(session, staff.id, coupon_id, True)


@router.post(
    "/api/admin/coupons/{coupon_id}/resume",
    response_model=CouponRead,
    tags=ADMIN_TAGS,
    summary="Let customers claim a paused batch again",
    responses=problem_responses(NotAuthenticated, Forbidden, CouponBatchNotFound, validation=False),
    operation_id="resumeCoupon",
)
async def resume(coupon_id: IdPath, staff: StaffUser, session: SessionDep) -> CouponRead:
    return await service.set_paused(session, staff.id, coupon_id, False)
