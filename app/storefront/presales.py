"""Pre-sales (预售) as pages: a pre-sale's page with its deposit form, "我的预售" with each order's stage and
its pay button (the deposit, then the balance in its window), and the back office's list, creation form and
who is behind on the balance. They call app.presales.service and, to order, the same checkout as
POST /api/presales/{id}/orders; to pay, the same payments as POST /api/orders/{id}/payments."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.checkout import service as checkout_service
from app.db import SessionDep, refusable, session_scope, utcnow
from app.errors import AppError
from app.flash_sales import service as flash_service
from app.kit.params import IdPath, form_idempotency_key, parse_id, parse_int
from app.kit.time import SHOP_TZ
from app.payments import service as payments_service
from app.payments.models import Channel
from app.presales import service as presales_service
from app.presales.models import Presale
from app.presales.schemas import PresaleCreate, PresaleOrderCreate
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

ADMIN_SECTIONS.append(("presales", "/admin/presales", "预售"))

PER_PAGE = 20
MESSAGES = {
    "presale_sold_out": "预售名额已满，下次早点来。",
    "presale_not_open": "预售定金已截止。",
    "presale_balance_not_open": "尾款尚未开始支付，开放后我们会通知您。",
    "presale_not_found": "预售活动不存在。",
}
NOTICES = {"placed": "预售订单已提交，请支付定金。"}
ADMIN_NOTICES = {"created": "预售活动已创建"}
STAGES = {"deposit": "待付定金", "balance": "待付尾款", "paid": "已付全款", "closed": "已关闭"}


def _message(exc: AppError) -> str:
    return MESSAGES.get(exc.code) or CODE_MESSAGES.get(exc.code, "暂时无法处理，请稍后再试。")


async def _cards(session: SessionDep, presales: list[Presale]) -> list[dict[str, Any]]:
    skus = await flash_service.sku_details(session, [p.sku_id for p in presales])
    now = utcnow()
    return [{"presale": p, "sku": skus.get(p.sku_id), "open": now < p.deposit_ends_at} for p in presales]


async def _presale_page(
    request: Request,
    session: SessionDep,
    user: Any,
    presale_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    presale = await presales_service.get_or_raise(session, presale_id)
    (card,) = await _cards(session, [presale])
    addresses = list(await users_service.list_addresses(session, user)) if user is not None else []
    return render(
        request,
        "storefront/presale.html",
        {
            "card": card,
            "addresses": [a for a in addresses if not a.needs_correction],
            "idempotency_key": secrets.token_urlsafe(24),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/presales/mine", summary="My pre-sale orders: their stage and the pay button")
async def my_presales(request: Request, session: SessionDep, user: SignedInPageUser) -> Response:
    page_no = page_number(request.query_params.get("page"))
    rows, total = await presales_service.list_mine(session, user, (page_no - 1) * PER_PAGE, PER_PAGE)
    error = request.query_params.get("error", "")
    return render(
        request,
        "storefront/my_presales.html",
        {
            "rows": rows,
            "stages": STAGES,
            "total": total,
            "page": page_no,
            "pages": max(1, -(-total // PER_PAGE)),
            "page_url": lambda n: f"/presales/mine?page={n}",
            "notice": NOTICES.get(request.query_params.get("done", "")),
            "error": MESSAGES.get(error) or CODE_MESSAGES.get(error) if error else None,
        },
    )


@router.get("/presales/{presale_id}", summary="One pre-sale and its deposit form")
async def presale_page(request: Request, presale_id: IdPath, session: SessionDep, user: PageUser) -> Response:
    return await _presale_page(request, session, user, presale_id)


@router.post("/presales/{presale_id}/order", summary="Order from a pre-sale (its deposit)")
async def order(
    request: Request,
    presale_id: IdPath,
    session: SessionDep,
    user: SignedInPageUser,
    address_id: FormStr = "",
    quantity: FormStr = "1",
    idempotency_key: FormStr = "",
) -> Response:
    try:
        data = PresaleOrderCreate(address_id=parse_id(address_id) or 0, quantity=parse_int(quantity) or 0)
    except ValidationError:
        return await _presale_page(
            request, session, user, presale_id, error="请选择收货地址和数量。", status_code=422
        )
    key = form_idempotency_key(idempotency_key)
    user_id = user.id
    try:
        async with refusable(session):
            await checkout_service.place_presale_order(session, user, presale_id, data, idempotency_key=key)
    except AppError as exc:
        if exc.code == "presale_not_found":
            raise
        fresh = await users_service.get(session, user_id)
        return await _presale_page(
            request, session, fresh, presale_id, error=_message(exc), status_code=exc.status_code
        )
    return RedirectResponse("/presales/mine?done=placed", status_code=303)


@router.post("/presales/orders/{order_id}/pay", summary="Pay what my pre-sale order owes now (sandbox)")
async def pay(order_id: IdPath, session: SessionDep, user: SignedInPageUser) -> Response:
    try:
        async with refusable(session):
            payment = await payments_service.create_payment(session, user, order_id, Channel.sandbox)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        return RedirectResponse(f"/presales/mine?error={exc.code}", status_code=303)
    return RedirectResponse(payment.pay_url, status_code=303)


async def presale_cards(product: dict[str, Any]) -> list[dict[str, Any]]:
    """The product page's pre-sales: those of its SKUs still taking deposits (one short read; none for most
    products)."""
    names = {sku["id"]: sku["name"] for sku in product.get("skus", [])}
    if not names:
        return []
    async with session_scope() as session:
        presales = await presales_service.open_for_skus(session, list(names))
    return [{"presale": p, "sku_name": names.get(p.sku_id, ""), "open": True} for p in presales]


# ------------------------------------------------------------------------------------------------ back office


async def _admin_page(
    request: Request,
    session: SessionDep,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    page_no = page_number(request.query_params.get("page"))
    rows, total = await presales_service.list_all(session, (page_no - 1) * PER_PAGE, PER_PAGE)
    return render(
        request,
        "admin/presales.html",
        {
            "section": "presales",
            "cards": await _cards(session, list(rows)),
            "total": total,
            "page": page_no,
            "pages": max(1, -(-total // PER_PAGE)),
            "page_url": lambda n: f"/admin/presales?page={n}",
            "notice": ADMIN_NOTICES.get(request.query_params.get("done", "")),
            "errors": errors or {},
            "values": values or {},
        },
        status_code=status_code,
    )


@admin_router.get("/presales", summary="Back office: pre-sales")
async def admin_presales(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    return await _admin_page(request, session)


def _local(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=SHOP_TZ)
    except ValueError:
        return None


FIELDS = [
    ("sku_id", "规格编号", "text"),
    ("deposit", "定金（元）", "text"),
    ("balance", "尾款（元）", "text"),
    ("quota", "预售名额（件）", "text"),
    ("deposit_ends_at", "定金截止", "datetime-local"),
    ("balance_starts_at", "尾款开始", "datetime-local"),
    ("balance_ends_at", "尾款截止", "datetime-local"),
    ("ships_from", "发货日期（新米碾磨后）", "datetime-local"),
]


@admin_router.post("/presales", summary="Back office: create a pre-sale")
async def admin_create(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    form = await request.form()
    values = {name: str(form.get(name, ""))[:100] for name, _, _ in FIELDS}
    refund = form.get("refund_deposit_if_unpaid") == "on"
    fields = {
        "sku_id": parse_id(values["sku_id"]),
        "deposit_fen": yuan_to_fen(values["deposit"]),
        "balance_fen": yuan_to_fen(values["balance"]),
        "quota": parse_int(values["quota"], lo=1, hi=1_000_000),
        **{
            name: _local(values[name])
            for name in ("deposit_ends_at", "balance_starts_at", "balance_ends_at", "ships_from")
        },
    }
    form_names = {"deposit_fen": "deposit", "balance_fen": "balance"}
    errors = {form_names.get(n, n): "请正确填写。" for n, v in fields.items() if v is None}
    if not errors:
        try:
            data = PresaleCreate.model_validate({**fields, "refund_deposit_if_unpaid": refund})
        except ValidationError:
            errors["balance_starts_at"] = "日期须依次为：定金截止 ≤ 尾款开始 < 尾款截止，定金须大于 0。"
    if errors:
        return await _admin_page(request, session, errors=errors, values=values, status_code=422)
    try:
        async with refusable(session):
            await presales_service.create(session, staff, data)
    except AppError as exc:
        message = {"sku_not_found": "规格不存在。"}.get(exc.code, _message(exc))
        return await _admin_page(
            request, session, errors={"sku_id": message}, values=values, status_code=exc.status_code
        )
    return RedirectResponse("/admin/presales?done=created", status_code=303)


@admin_router.get("/presales/{presale_id}", summary="Back office: who is behind on a pre-sale's balance")
async def admin_behind(
    request: Request, presale_id: IdPath, session: SessionDep, staff: StaffPageUser
) -> Response:
    page_no = page_number(request.query_params.get("page"))
    rows, total = await presales_service.behind(session, presale_id, (page_no - 1) * PER_PAGE, PER_PAGE)
    presale = await presales_service.get_or_raise(session, presale_id)
    (card,) = await _cards(session, [presale])
    return render(
        request,
        "admin/presale_behind.html",
        {
            "section": "presales",
            "card": card,
            "rows": rows,
            "stages": STAGES,
            "total": total,
            "page": page_no,
            "pages": max(1, -(-total // PER_PAGE)),
            "page_url": lambda n: f"/admin/presales/{presale_id}?page={n}",
        },
    )
