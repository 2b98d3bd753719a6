"""Coupon pages for customers: the 领券中心 (/coupons, claim with one tap) and 我的优惠券
(/account/coupons, unused / used / expired), on app.coupons.service — the same calls as /api/coupons and
/api/users/me/coupons."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from app.coupons import service as coupons_service
from app.db import SessionDep, refusable
from app.errors import AppError
from app.kit.pagination import PageParams
from app.kit.params import IdPath
from app.storefront.dependencies import PageUser, SignedInPageUser, load_cart_count
from app.storefront.forms import page_number
from app.storefront.messages import CODE_MESSAGES
from app.storefront.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(load_cart_count)])

COUPONS_PER_PAGE = 20
TABS = {"unused": "未使用", "used": "已使用", "expired": "已过期"}


def coupon_label(terms: Any) -> str:
    """What a coupon gives, as shoppers read it: 满199减30, 减10元, 8.5折 (最多减20元)."""
    if terms.kind == "fixed":
        amount = _yuan(terms.amount_fen or 0)
        return f"满{_yuan(terms.threshold_fen)}减{amount}" if terms.threshold_fen else f"减{amount}元"
    label = f"{(100 - (terms.percent_off or 0)) / 10:g}折"
    if terms.threshold_fen:
        label = f"满{_yuan(terms.threshold_fen)}享{label}"
    if terms.max_discount_fen is not None:
        label += f"（最多减{_yuan(terms.max_discount_fen)}元）"
    return label


def _yuan(fen: int) -> str:
    return f"{fen / 100:g}" if fen % 100 else str(fen // 100)


def scope_label(terms: Any) -> str:
    if terms.product_ids or terms.category_ids:
        return "指定商品可用"
    return "全场通用"


@router.get("/coupons", summary="The coupon centre (领券中心)")
async def coupon_centre(request: Request, session: SessionDep, user: PageUser) -> Response:
    params = request.query_params
    page = await coupons_service.list_claimable(
        session, PageParams(page=page_number(params.get("page")), size=COUPONS_PER_PAGE)
    )
    error = params.get("error", "")
    return render(
        request,
        "storefront/coupons.html",
        {
            "page": page,
            "coupon_label": coupon_label,
            "scope_label": scope_label,
            "notice": "领取成功，可在“我的优惠券”中查看" if params.get("done") == "claimed" else None,
            "error": CODE_MESSAGES.get(error) if error else None,
        },
    )


@router.post("/coupons/{coupon_id}/claim", summary="Claim a coupon from the coupon centre")
async def claim(coupon_id: IdPath, session: SessionDep, user: SignedInPageUser) -> Response:
    try:
        async with refusable(session):
            await coupons_service.claim(session, user.id, coupon_id)
    except AppError as exc:
        return RedirectResponse(f"/coupons?error={exc.code}", status_code=303)
    return RedirectResponse("/coupons?done=claimed", status_code=303)


@router.get("/account/coupons", summary="My coupons (我的优惠券)")
async def my_coupons(request: Request, session: SessionDep, user: SignedInPageUser) -> Response:
    params = request.query_params
    status = params.get("status", "unused")
    status = status if status in TABS else "unused"
    page = await coupons_service.list_mine(
        session, user.id, status, PageParams(page=page_number(params.get("page")), size=COUPONS_PER_PAGE)
    )
    return render(
        request,
        "storefront/my_coupons.html",
        {
            "page": page,
            "status": status,
            "tabs": TABS,
            "coupon_label": coupon_label,
            "scope_label": scope_label,
        },
    )
