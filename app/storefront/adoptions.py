"""Field adoption (认养一亩田) as pages: the plans, a plan's page with its plot's story (producer, events and
photos, certificates) and its adopt form, my adoptions (kg left, the plot's timeline, request a delivery),
and the back office's plans list and creation form. They call app.adoptions.service and, to adopt and to
draw, the same checkout as the API (app.checkout.service.place_adoption_order, app.checkout.adoption)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.adoptions import service as adoptions_service
from app.adoptions.schemas import AdoptCreate, AdoptionPlanCreate, DeliveryCreate
from app.checkout import adoption as adoption_checkout
from app.checkout import service as checkout_service
from app.db import SessionDep, refusable
from app.errors import AppError
from app.kit.params import IdPath, form_idempotency_key, parse_id, parse_int
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

ADMIN_SECTIONS.append(("adoption_plans", "/admin/adoption-plans", "认养"))

PER_PAGE = 20
MESSAGES = {
    "adoption_sold_out": "份数不足，这块田已经被认养完了。",
    "adoption_season_over": "本季认养已结束。",
    "adoption_kg_exceeded": "超出剩余可提的公斤数。",
    "adoption_kg_not_whole_bags": "请按整袋提货（公斤数须是每袋重量的整数倍）。",
    "adoption_not_found": "没有找到这份认养（或尚未付款）。",
    "plot_not_found": "地块不存在。",
    "plot_without_product": "该地块还没有批次或可发货的规格，请先录入该地块的批次。",
}


def _message(code: str) -> str:
    return MESSAGES.get(code) or CODE_MESSAGES.get(code, "暂时无法完成，请稍后再试。")


async def _addresses(session: SessionDep, user: Any) -> list[Any]:
    if user is None:
        return []
    return [a for a in await users_service.list_addresses(session, user) if not a.needs_correction]


@router.get("/adoption", summary="Adoption plans")
async def plans(request: Request, session: SessionDep, user: PageUser) -> Response:
    rows, _ = await adoptions_service.list_open(session, 0, 100)
    return render(request, "storefront/adoptions.html", {"plans": rows})


async def _plan_page(
    request: Request,
    session: SessionDep,
    user: Any,
    plan_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    detail = await adoptions_service.plan_detail(session, plan_id)
    return render(
        request,
        "storefront/adoption_plan.html",
        {
            "plan": detail,
            "addresses": await _addresses(session, user),
            "idempotency_key": secrets.token_urlsafe(24),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/adoption/{plan_id}", summary="One adoption plan: the plot's story and the adopt form")
async def plan_page(request: Request, plan_id: IdPath, session: SessionDep, user: PageUser) -> Response:
    return await _plan_page(request, session, user, plan_id)


@router.post("/adoption/{plan_id}/adopt", summary="Adopt shares of a plan")
async def adopt(
    request: Request,
    plan_id: IdPath,
    session: SessionDep,
    user: SignedInPageUser,
    address_id: FormStr = "",
    shares: FormStr = "1",
    idempotency_key: FormStr = "",
) -> Response:
    try:
        data = AdoptCreate(address_id=parse_id(address_id) or 0, shares=parse_int(shares) or 0)
    except ValidationError:
        return await _plan_page(
            request, session, user, plan_id, error="请选择收货地址和份数。", status_code=422
        )
    key = form_idempotency_key(idempotency_key)
    user_id = user.id
    try:
        async with refusable(session):
            placed = await checkout_service.place_adoption_order(
                session, user, plan_id, data, idempotency_key=key
            )
    except AppError as exc:
        if exc.code == "adoption_plan_not_found":
            raise
        fresh = await users_service.get(session, user_id)
        return await _plan_page(
            request, session, fresh, plan_id, error=_message(exc.code), status_code=exc.status_code
        )
    return RedirectResponse(f"/orders/{placed.order['id']}?done=placed", status_code=303)


async def _mine_page(
    request: Request,
    session: SessionDep,
    user: Any,
    *,
    errors: dict[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    notice = (
        "提货申请已提交，我们会尽快从您认养的地块批次发货。"
        if request.query_params.get("done") == "delivered"
        else None
    )
    return render(
        request,
        "storefront/my_adoptions.html",
        {
            "adoptions": await adoptions_service.my_adoptions(session, user.id),
            "addresses": await _addresses(session, user),
            "errors": errors or {},
            "notice": notice,
        },
        status_code=status_code,
    )


@router.get("/account/adoptions", summary="My adoptions: kg left, the plot's timeline, deliveries")
async def my_adoptions(request: Request, session: SessionDep, user: SignedInPageUser) -> Response:
    return await _mine_page(request, session, user)


@router.post("/account/adoptions/{adoption_id}/deliveries", summary="Request a delivery of an adoption")
async def request_delivery(
    request: Request,
    adoption_id: IdPath,
    session: SessionDep,
    user: SignedInPageUser,
    kg: FormStr = "",
    address_id: FormStr = "",
) -> Response:
    user_id = user.id
    try:
        data = DeliveryCreate(kg=parse_int(kg) or 0, address_id=parse_id(address_id) or 0)
    except ValidationError:
        return await _mine_page(
            request, session, user, errors={adoption_id: "请填写公斤数并选择收货地址。"}, status_code=422
        )
    try:
        async with refusable(session):
            await adoption_checkout.request_delivery(session, user, adoption_id, data)
    except AppError as exc:
        fresh = await users_service.get(session, user_id)
        return await _mine_page(
            request, session, fresh, errors={adoption_id: _message(exc.code)}, status_code=exc.status_code
        )
    return RedirectResponse("/account/adoptions?done=delivered", status_code=303)


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
    rows, total = await adoptions_service.list_for_staff(session, (page_no - 1) * PER_PAGE, PER_PAGE)
    return render(
        request,
        "admin/adoption_plans.html",
        {
            "section": "adoption_plans",
            "plans": rows,
            "total": total,
            "page": page_no,
            "pages": max(1, -(-total // PER_PAGE)),
            "page_url": lambda n: f"/admin/adoption-plans?page={n}",
            "notice": "认养计划已创建" if request.query_params.get("done") == "created" else None,
            "errors": errors or {},
            "values": values or {"shares": "10", "yield_kg_per_share": "50"},
        },
        status_code=status_code,
    )


@admin_router.get("/adoption-plans", summary="Back office: adoption plans")
async def admin_plans(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    return await _admin_page(request, session)


@admin_router.post("/adoption-plans", summary="Back office: create an adoption plan")
async def admin_create(
    request: Request,
    session: SessionDep,
    staff: StaffPageUser,
    plot_id: FormStr = "",
    name: FormStr = "",
    season: FormStr = "",
    shares: FormStr = "",
    share_price: FormStr = "",
    yield_kg_per_share: FormStr = "",
) -> Response:
    values = {
        "plot_id": plot_id,
        "name": name,
        "season": season,
        "shares": shares,
        "share_price": share_price,
        "yield_kg_per_share": yield_kg_per_share,
    }
    fields = {
        "plot_id": parse_id(plot_id),
        "name": name.strip() or None,
        "season": season.strip() if season.strip().isdigit() and len(season.strip()) == 4 else None,
        "shares": parse_int(shares, lo=1, hi=100_000),
        "share_price_fen": yuan_to_fen(share_price),
        "yield_kg_per_share": parse_int(yield_kg_per_share, lo=1, hi=10_000),
    }
    labels = {
        "plot_id": "请填写地块编号。",
        "name": "请填写计划名称。",
        "season": "请填写收获年份，例如 2026。",
        "shares": "份数请填写正整数。",
        "share_price_fen": "每份价格请填写元，例如 1980.00。",
        "yield_kg_per_share": "每份产量请填写公斤数（正整数）。",
    }
    errors = {name_: labels[name_] for name_, value in fields.items() if value is None}
    data = None
    if not errors:
        try:
            data = AdoptionPlanCreate.model_validate(fields)
        except ValidationError:
            errors["season"] = "请检查填写的内容。"
    if errors or data is None:
        return await _admin_page(request, session, errors=errors, values=values, status_code=422)
    try:
        async with refusable(session):
            await adoptions_service.create_plan(session, staff, data)
    except AppError as exc:
        return await _admin_page(
            request,
            session,
            errors={"plot_id": _message(exc.code)},
            values=values,
            status_code=exc.status_code,
        )
    return RedirectResponse("/admin/adoption-plans?done=created", status_code=303)
