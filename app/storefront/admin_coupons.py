"""Back office: coupons — create a batch, pause or resume it, and see how many were claimed and used, on
app.coupons.service (the same calls as /api/admin/coupons). Amounts are typed in yuan, times in Beijing
time; the form is checked with the API's own schema (CouponCreate)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.coupons import service as coupons_service
from app.coupons.schemas import CouponCreate
from app.db import SessionDep, refusable
from app.errors import AppError
from app.kit.pagination import PageParams
from app.kit.params import IdPath
from app.kit.time import SHOP_TZ
from app.storefront.coupons_router import coupon_label
from app.storefront.dependencies import StaffPageUser, staff_pages_router
from app.storefront.forms import FormStr, page_number
from app.storefront.messages import CODE_MESSAGES
from app.storefront.templating import ADMIN_SECTIONS, render

router = staff_pages_router()

ADMIN_SECTIONS.append(("coupons", "/admin/coupons", "优惠券"))

COUPONS_PER_PAGE = 20
NOTICES = {"created": "优惠券已创建", "paused": "已暂停领取", "resumed": "已恢复领取"}
FIELDS = (
    "name",
    "kind",
    "amount_yuan",
    "percent_off",
    "max_discount_yuan",
    "threshold_yuan",
    "starts_at",
    "ends_at",
    "total_quantity",
    "per_customer_limit",
    "product_ids",
    "category_ids",
)


class FormProblem(ValueError):
    pass


def _fen(text: str, label: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise FormProblem(f"{label}请填写金额（元），如 30 或 9.9") from None
    if value != value.quantize(Decimal("0.01")) or value < 0:
        raise FormProblem(f"{label}最多两位小数，且不能为负")
    return int(value * 100)


def _int(text: str, label: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise FormProblem(f"{label}请填写整数")
    return int(text)


def _ids(text: str, label: str) -> list[int]:
    parts = [p for p in re.split(r"[\s,，、]+", text.strip()) if p]
    if not all(p.isdigit() for p in parts):
        raise FormProblem(f"{label}请填写编号，用逗号分隔")
    return [int(p) for p in parts]


def _time(text: str, label: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=SHOP_TZ)
    except ValueError:
        raise FormProblem(f"请选择{label}") from None


def coupon_from_form(values: dict[str, str]) -> CouponCreate:
    """Raises FormProblem (a message for staff) or ValidationError."""
    fields: dict[str, Any] = {
        "name": values.get("name", ""),
        "kind": values.get("kind", ""),
        "amount_fen": _fen(values.get("amount_yuan", ""), "减免金额"),
        "percent_off": _int(values.get("percent_off", ""), "折扣"),
        "max_discount_fen": _fen(values.get("max_discount_yuan", ""), "最多减免"),
        "threshold_fen": _fen(values.get("threshold_yuan", ""), "使用门槛") or 0,
        "starts_at": _time(values.get("starts_at", ""), "开始时间"),
        "ends_at": _time(values.get("ends_at", ""), "结束时间"),
        "total_quantity": _int(values.get("total_quantity", ""), "发行数量"),
        "per_customer_limit": _int(values.get("per_customer_limit", ""), "每人限领") or 1,
        "product_ids": _ids(values.get("product_ids", ""), "适用商品"),
        "category_ids": _ids(values.get("category_ids", ""), "适用分类"),
    }
    if fields["kind"] == "fixed":
        fields.pop("percent_off")
        fields.pop("max_discount_fen")
    else:
        fields.pop("amount_fen")
    return CouponCreate.model_validate(fields)


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return f"填写有误（{where or '表单'}）：{first.get('msg', '')}"


async def _page(
    request: Request,
    session: SessionDep,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    params = request.query_params
    page = await coupons_service.list_for_staff(
        session, PageParams(page=page_number(params.get("page")), size=COUPONS_PER_PAGE)
    )
    return render(
        request,
        "admin/coupons.html",
        {
            "section": "coupons",
            "page": page,
            "coupon_label": coupon_label,
            "values": values or {"kind": "fixed", "per_customer_limit": "1"},
            "notice": NOTICES.get(params.get("done", "")),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/coupons", summary="Back office: coupons and their usage")
async def coupons(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    return await _page(request, session)


@router.post("/coupons", summary="Back office: create a batch of coupons")
async def create(
    request: Request,
    session: SessionDep,
    staff: StaffPageUser,
    name: FormStr = "",
    kind: FormStr = "",
    amount_yuan: FormStr = "",
    percent_off: FormStr = "",
    max_discount_yuan: FormStr = "",
    threshold_yuan: FormStr = "",
    starts_at: FormStr = "",
    ends_at: FormStr = "",
    total_quantity: FormStr = "",
    per_customer_limit: FormStr = "",
    product_ids: FormStr = "",
    category_ids: FormStr = "",
) -> Response:
    values = dict(
        zip(
            FIELDS,
            (
                name,
                kind,
                amount_yuan,
                percent_off,
                max_discount_yuan,
                threshold_yuan,
                starts_at,
                ends_at,
                total_quantity,
                per_customer_limit,
                product_ids,
                category_ids,
            ),
            strict=True,
        )
    )
    try:
        data = coupon_from_form(values)
    except FormProblem as exc:
        return await _page(request, session, values=values, error=str(exc), status_code=422)
    except ValidationError as exc:
        return await _page(request, session, values=values, error=_validation_message(exc), status_code=422)
    try:
        async with refusable(session):
            await coupons_service.create(session, staff.id, data)
    except AppError as exc:
        error = CODE_MESSAGES.get(exc.code, "无法创建优惠券。")
        return await _page(request, session, values=values, error=error, status_code=exc.status_code)
    return RedirectResponse("/admin/coupons?done=created", status_code=303)


@router.post("/coupons/{coupon_id}/pause", summary="Back office: stop claims of a batch")
async def pause(coupon_id: IdPath, session: SessionDep, staff: StaffPageUser) -> Response:
    await coupons_service.set_paused(session, staff.id, coupon_id, True)
    return RedirectResponse("/admin/coupons?done=paused", status_code=303)


@router.post("/coupons/{coupon_id}/resume", summary="Back office: let customers claim a batch again")
async def resume(coupon_id: IdPath, session: SessionDep, staff: StaffPageUser) -> Response:
    await coupons_service.set_paused(session, staff.id, coupon_id, False)
    return RedirectResponse("/admin/coupons?done=resumed", status_code=303)
