"""Flash sales (秒杀) as pages: the countdown list, a sale's page with its buy button (已抢光 once sold out),
and the back office's list and creation form. They call app.flash_sales.service and, to buy, the same
checkout as POST /api/flash-sales/{id}/orders (app.checkout.service.place_flash_sale_order)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.checkout import service as checkout_service
from app.db import SessionDep, refusable
from app.errors import AppError
from app.flash_sales import service as flash_service
from app.flash_sales.models import FlashSale
from app.flash_sales.schemas import FlashSaleCreate, FlashSaleOrderCreate
from app.kit.params import IdPath, form_idempotency_key, parse_id, parse_int
from app.kit.time import SHOP_TZ
from app.storefront.admin_products import yuan_to_fen
from app.storefront.dependencies import (
    PageUser,
    SignedInPageUser,
    StaffPageUser,
    load_cart_count,
    require_staff_page_user,
)
from app.storefront.forms import FormStr, page_number
from app.storefront.messages import CODE_MESSAGES
from app.storefront.templating import ADMIN_SECTIONS, render
from app.users import service as users_service

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(load_cart_count)])
admin_router = APIRouter(
    prefix="/admin", tags=["pages"], include_in_schema=False, dependencies=[Depends(require_staff_page_user)]
)

ADMIN_SECTIONS.append(("flash_sales", "/admin/flash-sales", "秒杀"))

PER_PAGE = 20
ADMIN_NOTICES = {"created": "秒杀活动已创建", "cancelled": "秒杀活动已取消，剩余数量已退回库存"}


def _status(sale: FlashSale, at: datetime) -> str:
    if sale.closed_at is not None or at >= sale.ends_at:
        return "ended"
    if at < sale.starts_at:
        return "upcoming"
    return "sold_out" if sale.remaining <= 0 else "running"


async def _cards(session: SessionDep, sales: list[FlashSale]) -> list[dict[str, Any]]:
    at = flash_service.now()
    skus = await flash_service.sku_details(session, [s.sku_id for s in sales])
    return [
        {
            "sale": sale,
            "sku": skus.get(sale.sku_id),
            "status": _status(sale, at),
            "seconds_to_start": max(0, int((sale.starts_at - at).total_seconds())),
            "seconds_to_end": max(0, int((sale.ends_at - at).total_seconds())),
        }
        for sale in sales
    ]


@router.get("/flash-sales", summary="Flash sales: running and upcoming, with countdowns")
async def flash_sales(request: Request, session: SessionDep, user: PageUser) -> Response:
    sales, _ = await flash_service.list_current(session)
    cards = await _cards(session, list(sales))
    return render(request, "storefront/flash_sales.html", {"cards": cards})


async def _sale_page(
    request: Request,
    session: SessionDep,
    user: Any,
    sale_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    sale = await flash_service.get_or_raise(session, sale_id)
    (card,) = await _cards(session, [sale])
    addresses = list(await users_service.list_addresses(session, user)) if user is not None else []
    usable = [a for a in addresses if not a.needs_correction]
    return render(
        request,
        "storefront/flash_sale.html",
        {
            "card": card,
            "addresses": usable,
            "idempotency_key": secrets.token_urlsafe(24),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/flash-sales/{sale_id}", summary="One flash sale and its buy button")
async def flash_sale(request: Request, sale_id: IdPath, session: SessionDep, user: PageUser) -> Response:
    return await _sale_page(request, session, user, sale_id)


@router.post("/flash-sales/{sale_id}/buy", summary="Buy from a flash sale")
async def buy(
    request: Request,
    sale_id: IdPath,
    session: SessionDep,
    user: SignedInPageUser,
    address_id: FormStr = "",
    quantity: FormStr = "1",
    idempotency_key: FormStr = "",
) -> Response:
    try:
        data = FlashSaleOrderCreate(address_id=parse_id(address_id) or 0, quantity=parse_int(quantity) or 0)
    except ValidationError:
        return await _sale_page(
            request, session, user, sale_id, error="请选择收货地址和数量。", status_code=422
        )
    key = form_idempotency_key(idempotency_key)
    user_id = user.id
    try:
        async with refusable(session):
            placed = await checkout_service.place_flash_sale_order(
                session, user, sale_id, data, idempotency_key=key
            )
    except AppError as exc:
        if exc.status_code == 404 and exc.code == "flash_sale_not_found":
            raise
        fresh = await users_service.get(session, user_id)
        message = CODE_MESSAGES.get(exc.code, "暂时无法下单，请稍后再试。")
        return await _sale_page(request, session, fresh, sale_id, error=message, status_code=exc.status_code)
    return RedirectResponse(f"/orders/{placed.order['id']}?done=placed", status_code=303)


# ------------------------------------------------------------------------------------------------ back office


@admin_router.get("/flash-sales", summary="Back office: flash sales")
async def admin_flash_sales(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    return await _admin_page(request, session)


async def _admin_page(
    request: Request,
    session: SessionDep,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    page_no = page_number(request.query_params.get("page"))
    rows, total = await flash_service.list_for_staff(session, (page_no - 1) * PER_PAGE, PER_PAGE)
    start = (flash_service.now() + timedelta(hours=1)).astimezone(SHOP_TZ).replace(minute=0, second=0)
    defaults = {
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "per_customer_limit": "1",
    }
    return render(
        request,
        "admin/flash_sales.html",
        {
            "section": "flash_sales",
            "cards": await _cards(session, list(rows)),
            "total": total,
            "page": page_no,
            "pages": max(1, -(-total // PER_PAGE)),
            "page_url": lambda n: f"/admin/flash-sales?page={n}",
            "notice": ADMIN_NOTICES.get(request.query_params.get("done", "")),
            "errors": errors or {},
            "values": {**defaults, **(values or {})},
        },
        status_code=status_code,
    )


def _local(text: str) -> datetime | None:
    """A datetime-local field ("2026-12-01T10:00"), in the shop's time zone."""
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=SHOP_TZ)
    except ValueError:
        return None


@admin_router.post("/flash-sales", summary="Back office: create a flash sale")
async def admin_create(
    request: Request,
    session: SessionDep,
    staff: StaffPageUser,
    sku_id: FormStr = "",
    price: FormStr = "",
    quantity: FormStr = "",
    per_customer_limit: FormStr = "",
    starts_at: FormStr = "",
    ends_at: FormStr = "",
) -> Response:
    values = {
        "sku_id": sku_id,
        "price": price,
        "quantity": quantity,
        "per_customer_limit": per_customer_limit,
        "starts_at": starts_at,
        "ends_at": ends_at,
    }
    fields = {
        "sku_id": parse_id(sku_id),
        "price_fen": yuan_to_fen(price),
        "quantity": parse_int(quantity, lo=1, hi=1_000_000),
        "per_customer_limit": parse_int(per_customer_limit, lo=1, hi=9999),
        "starts_at": _local(starts_at),
        "ends_at": _local(ends_at),
    }
    labels = {
        "sku_id": "请填写规格编号。",
        "price_fen": "秒杀价请填写元，例如 39.90。",
        "quantity": "数量请填写正整数。",
        "per_customer_limit": "每人限购请填写正整数。",
        "starts_at": "请填写开始时间。",
        "ends_at": "请填写结束时间。",
    }
    errors = {name: labels[name] for name, value in fields.items() if value is None}
    if not errors:
        try:
            data = FlashSaleCreate.model_validate(fields)
        except ValidationError:
            errors["ends_at"] = "结束时间必须晚于开始时间。"
    if errors:
        return await _admin_page(request, session, errors=errors, values=values, status_code=422)
    try:
        async with refusable(session):
            await flash_service.create(session, staff, data)
    except AppError as exc:
        message = {"out_of_stock": "库存不足，无法拿出这么多数量。", "sku_not_found": "规格不存在。"}.get(
            exc.code, CODE_MESSAGES.get(exc.code, "无法创建。")
        )
        field = "quantity" if exc.code == "out_of_stock" else "sku_id"
        return await _admin_page(
            request, session, errors={field: message}, values=values, status_code=exc.status_code
        )
    return RedirectResponse("/admin/flash-sales?done=created", status_code=303)


@admin_router.post("/flash-sales/{sale_id}/cancel", summary="Back office: cancel a flash sale")
async def admin_cancel(sale_id: IdPath, session: SessionDep, staff: StaffPageUser) -> Response:
    await flash_service.cancel(session, staff, sale_id)
    return RedirectResponse("/admin/flash-sales?done=cancelled", status_code=303)
