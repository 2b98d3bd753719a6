"""Subscriptions (周期购) as pages: subscribe from a product, 我的周期购 (schedule and actions), and the back
office's list with the deliveries to pack. They call app.subscriptions (the same calls as /api/subscriptions)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import reads as catalog_reads
from app.catalog.errors import ProductNotFound
from app.db import SessionDep, refusable
from app.errors import AppError
from app.kit.params import IdPath, form_idempotency_key, parse_id, parse_int
from app.orders import repository as orders_repository
from app.storefront.dependencies import PageUser, SignedInPageUser, load_cart_count, require_staff_page_user
from app.storefront.forms import FormStr, page_number
from app.storefront.messages import CODE_MESSAGES
from app.storefront.templating import ADMIN_SECTIONS, render
from app.subscriptions import cancel as subscriptions_cancel
from app.subscriptions import service as subscriptions_service
from app.subscriptions.models import SubscriptionStatus
from app.subscriptions.schemas import SubscriptionCreate, SubscriptionRead
from app.users import service as users_service

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(load_cart_count)])
admin_router = APIRouter(
    prefix="/admin", tags=["pages"], include_in_schema=False, dependencies=[Depends(require_staff_page_user)]
)

ADMIN_SECTIONS.append(("subscriptions", "/admin/subscriptions", "周期购"))

PER_PAGE = 20
INTERVALS = {"weekly": "每周", "biweekly": "每两周", "monthly": "每月"}
STATUSES = {
    "pending_payment": "待支付",
    "active": "配送中",
    "waiting_for_stock": "缺货待发",
    "paused": "已暂停",
    "completed": "已完成",
    "cancelled": "已取消",
}
DELIVERY_STATUSES = {
    "placed": "已生成订单",
    "scheduled": "待配送",
    "waiting_for_stock": "缺货待发",
    "paused": "暂停中",
}
ACTIONS = {
    "pause": "已暂停配送",
    "resume": "已恢复配送",
    "skip": "已跳过下一期，顺延一个周期",
    "cancel": "周期购已取消",
}
NOTICES = {**ACTIONS, "address": "收货地址已更新，之后的配送将寄往新地址"}
LABELS = {"intervals": INTERVALS, "statuses": STATUSES, "delivery_statuses": DELIVERY_STATUSES}


async def _sku_names(session: AsyncSession, rows: Sequence[SubscriptionRead]) -> dict[int, str]:
    skus = await orders_repository.sku_rows(session, {r.sku_id for r in rows})
    return {sku_id: f"{row.product_name} {row.name}" for sku_id, row in skus.items()}


# ------------------------------------------------------------------------------------------------ customers


async def _subscribe_page(
    request: Request,
    session: SessionDep,
    user: Any,
    product_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    product = await catalog_reads.product_detail(product_id)
    addresses = list(await users_service.list_addresses(session, user)) if user is not None else []
    return render(
        request,
        "storefront/subscribe.html",
        {
            "product": product,
            "addresses": [a for a in addresses if not a.needs_correction],
            "idempotency_key": secrets.token_urlsafe(24),
            "error": error,
            **LABELS,
        },
        status_code=status_code,
    )


@router.get("/products/{product_id}/subscribe", summary="Subscribe to a product (周期购)")
async def subscribe_page(request: Request, product_id: str, session: SessionDep, user: PageUser) -> Response:
    pid = parse_id(product_id)
    if pid is None:
        raise ProductNotFound("No such product.")
    return await _subscribe_page(request, session, user, pid)


@router.post("/products/{product_id}/subscribe", summary="Subscribe: the prepaid order, then pay")
async def subscribe(
    request: Request,
    product_id: IdPath,
    session: SessionDep,
    user: SignedInPageUser,
    sku_id: FormStr = "",
    quantity: FormStr = "1",
    interval: FormStr = "",
    periods: FormStr = "",
    address_id: FormStr = "",
    idempotency_key: FormStr = "",
) -> Response:
    try:
        data = SubscriptionCreate.model_validate(
            {
                "sku_id": parse_id(sku_id) or 0,
                "quantity": parse_int(quantity) or 0,
                "interval": interval,
                "periods": parse_int(periods) or 0,
                "address_id": parse_id(address_id) or 0,
            }
        )
    except ValidationError:
        return await _subscribe_page(
            request,
            session,
            user,
            product_id,
            error="请选择规格、配送周期、期数和收货地址。",
            status_code=422,
        )
    key = form_idempotency_key(idempotency_key)
    user_id = user.id
    try:
        async with refusable(session):
            subscription = await subscriptions_service.subscribe(session, user, data, idempotency_key=key)
    except AppError as exc:
        fresh = await users_service.get(session, user_id)
        message = CODE_MESSAGES.get(exc.code, "暂时无法下单，请稍后再试。")
        return await _subscribe_page(
            request, session, fresh, product_id, error=message, status_code=exc.status_code
        )
    return RedirectResponse(f"/orders/{subscription.order_id}?done=placed", status_code=303)


@router.get("/account/subscriptions", summary="My subscriptions (我的周期购)")
async def my_subscriptions(request: Request, session: SessionDep, user: SignedInPageUser) -> Response:
    page_no = page_number(request.query_params.get("page"))
    rows, total = await subscriptions_service.list_for_customer(
        session, user, (page_no - 1) * PER_PAGE, PER_PAGE
    )
    addresses = [a for a in await users_service.list_addresses(session, user) if not a.needs_correction]
    error = request.query_params.get("error", "")
    return render(
        request,
        "storefront/my_subscriptions.html",
        {
            "subscriptions": rows,
            "sku_names": await _sku_names(session, rows),
            "addresses": addresses,
            "total": total,
            "page": page_no,
            "pages": max(1, -(-total // PER_PAGE)),
            "page_url": lambda n: f"/account/subscriptions?page={n}",
            "notice": NOTICES.get(request.query_params.get("done", "")),
            "error": CODE_MESSAGES.get(error, "当前状态不允许这个操作。") if error else None,
            **LABELS,
        },
    )


@router.post("/account/subscriptions/{subscription_id}/address", summary="Change a subscription's address")
async def change_address(
    subscription_id: IdPath, session: SessionDep, user: SignedInPageUser, address_id: FormStr = ""
) -> Response:
    try:
        async with refusable(session):
            await subscriptions_service.change_address(
                session, user, subscription_id, parse_id(address_id) or 0
            )
    except AppError as exc:
        return RedirectResponse(f"/account/subscriptions?error={exc.code}", status_code=303)
    return RedirectResponse("/account/subscriptions?done=address", status_code=303)


@router.post("/account/subscriptions/{subscription_id}/{action}", summary="Pause, resume, skip or cancel")
async def subscription_action(
    subscription_id: IdPath, action: str, session: SessionDep, user: SignedInPageUser
) -> Response:
    if action not in ACTIONS:
        return RedirectResponse("/account/subscriptions", status_code=303)
    try:
        if action == "cancel":
            await subscriptions_cancel.cancel(user, subscription_id)
        else:
            async with refusable(session):
                await getattr(subscriptions_service, action)(session, user, subscription_id)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        return RedirectResponse(f"/account/subscriptions?error={exc.code}", status_code=303)
    return RedirectResponse(f"/account/subscriptions?done={action}", status_code=303)


# ------------------------------------------------------------------------------------------------ back office


@admin_router.get("/subscriptions", summary="Back office: subscriptions and the deliveries to pack")
async def admin_subscriptions(request: Request, session: SessionDep) -> Response:
    params = request.query_params
    status = params.get("status") or None
    status = SubscriptionStatus(status) if status in STATUSES else None
    page_no = page_number(params.get("page"))
    rows, total = await subscriptions_service.list_for_staff(
        session, status, (page_no - 1) * PER_PAGE, PER_PAGE
    )
    upcoming = await subscriptions_service.upcoming(session, 7)
    skus = await orders_repository.sku_rows(session, {r.sku_id for r in rows} | {u.sku_id for u in upcoming})
    names = {sku_id: f"{row.product_name} {row.name}" for sku_id, row in skus.items()}
    return render(
        request,
        "admin/subscriptions.html",
        {
            "section": "subscriptions",
            "subscriptions": rows,
            "upcoming": upcoming,
            "sku_names": names,
            "status": status.value if status else "",
            "total": total,
            "page": page_no,
            "pages": max(1, -(-total // PER_PAGE)),
            "page_url": lambda n: f"/admin/subscriptions?page={n}&status={status.value if status else ''}",
            **LABELS,
        },
    )
