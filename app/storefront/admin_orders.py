"""Back office: orders (filter, ship with carrier, tracking number and batch, refunds), on
app.orders.service and app.orders.staff — the same calls as /api/admin/orders."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.db import SessionDep, refusable
from app.errors import AppError
from app.kit.pagination import page_count
from app.kit.params import IdPath, parse_id
from app.orders import export_jobs as orders_exports
from app.orders import service as orders_service
from app.orders import staff as orders_staff
from app.orders.errors import InvalidOrderState
from app.orders.models import OrderStatus
from app.orders.schemas import Carrier, OrderExportCreate, RefundReject, ShipRequest
from app.payments import refunds as payments_refunds
from app.storefront.dependencies import StaffPageUser, staff_pages_router
from app.storefront.forms import page_number
from app.storefront.templating import render

router = staff_pages_router()

ORDERS_PER_PAGE = 20
CARRIERS = list(Carrier.__args__)  # type: ignore[attr-defined]
NOTICES = {"shipped": "已发货", "refunded": "已同意退款", "rejected": "已拒绝退款申请"}
ERRORS = {
    "state": "订单状态已变化，不能进行这个操作。",
    "ship": "请选择快递公司并填写正确的运单号（6–40 位字母、数字或“-”）。",
    "reason": "请填写拒绝原因。",
    "presale_not_shippable_yet": "预售订单未到发货日期，暂不能发货。",
    "out_of_stock": "库存不足，暂不能发这个预售订单。",
}


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/orders", summary="Back office: orders")
async def orders(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    params = request.query_params
    status = params.get("status", "")
    wanted = OrderStatus(status) if status in OrderStatus.__members__ else None
    date_from, date_to = _parse_date(params.get("date_from")), _parse_date(params.get("date_to"))
    phone = (params.get("phone") or "").strip()[:20] or None
    page_no = page_number(params.get("page"))
    after = parse_id(params.get("after"))
    rows, total, exact = await orders_staff.list_for_staff(
        session,
        status=wanted,
        date_from=date_from,
        date_to=date_to,
        phone=phone,
        offset=(page_no - 1) * ORDERS_PER_PAGE,
        limit=ORDERS_PER_PAGE,
        before_id=after,
    )
    filters = {
        k: v
        for k, v in {
            "status": wanted.value if wanted else "",
            "date_from": date_from.isoformat() if date_from else "",
            "date_to": date_to.isoformat() if date_to else "",
            "phone": phone or "",
        }.items()
        if v
    }
    return render(
        request,
        "admin/orders.html",
        {
            "section": "orders",
            "rows": [(orders_service.to_read(order), buyer) for order, buyer in rows],
            "total": total,
            "filters": filters,
            "page": page_no,
            "pages": page_count(total, ORDERS_PER_PAGE),
            "page_url": lambda n: "/admin/orders?" + urlencode({**filters, "page": n}),
            "total_exact": exact,
            # Past the exact count (or once on a cursor) the pages go by cursor: "earlier orders".
            "next_url": "/admin/orders?" + urlencode({**filters, "after": rows[-1][0].id})
            if (after or not exact) and len(rows) == ORDERS_PER_PAGE
            else None,
            "first_url": "/admin/orders?" + urlencode(filters),
        },
        csp=True,
    )


async def batch_choices(session: SessionDep, product_ids: set[int]) -> dict[int, list[Any]]:
    """{product_id: [batches]} from the traceability domain when it is there (else no choices)."""
    try:
        from app.traceability import service as trace_service
    except ModuleNotFoundError:
        return {}
    choices: dict[int, list[Any]] = {}
    for product_id in sorted(product_ids):
        batches, _total = await trace_service.list_batches(session, product_id=product_id, offset=0, limit=50)
        choices[product_id] = list(batches)
    return choices


@router.get("/orders/{order_id}", summary="Back office: one order")
async def order_detail(
    request: Request, order_id: IdPath, session: SessionDep, staff: StaffPageUser
) -> Response:
    order_row = await orders_service.get_or_raise(session, order_id)
    order = orders_service.to_read(order_row)
    buyer = await orders_staff.buyer_phone(session, order_row)
    batches = await batch_choices(session, {item.product_id for item in order.items})
    from app.storefront.orders_router import timeline_text

    return render(
        request,
        "admin/order_detail.html",
        {
            "section": "orders",
            "order": order,
            "buyer_phone": buyer,
            "carriers": CARRIERS,
            "batches": batches,
            "timeline_text": timeline_text,
            "flash": NOTICES.get(request.query_params.get("done", "")),
            "error": ERRORS.get(request.query_params.get("error", "")),
        },
        csp=True,
    )


@router.post("/orders/{order_id}/ship", summary="Back office: ship an order")
async def ship(request: Request, order_id: IdPath, session: SessionDep, staff: StaffPageUser) -> Response:
    form = await request.form()
    order = orders_service.to_read(await orders_service.get_or_raise(session, order_id))
    lines = []
    for item in order.items:
        raw = str(form.get(f"batch_{item.id}", "")).strip()
        if raw:
            batch_id = parse_id(raw)
            if batch_id is None:
                return RedirectResponse(f"/admin/orders/{order_id}?error=ship", status_code=303)
            lines.append({"order_item_id": item.id, "batch_id": batch_id})
    try:
        data = ShipRequest(
            carrier=str(form.get("carrier", "")),
            tracking_no=str(form.get("tracking_no", "")),
            lines=lines or None,
        )
    except ValidationError:
        return RedirectResponse(f"/admin/orders/{order_id}?error=ship", status_code=303)
    try:
        # A savepoint: a refusal after a pre-sale order's stock was taken must not keep the stock taken.
        async with refusable(session):
            await orders_staff.ship(session, staff, order_id, data)
    except InvalidOrderState:
        return RedirectResponse(f"/admin/orders/{order_id}?error=state", status_code=303)
    except AppError as exc:
        if exc.code not in ERRORS:
            raise
        return RedirectResponse(f"/admin/orders/{order_id}?error={exc.code}", status_code=303)
    return RedirectResponse(f"/admin/orders/{order_id}?done=shipped", status_code=303)


@router.post("/orders/{order_id}/refund", summary="Back office: approve a refund")
async def approve_refund(order_id: IdPath, session: SessionDep, staff: StaffPageUser) -> Response:
    try:
        await payments_refunds.approve_refund(staff, order_id)
    except InvalidOrderState:
        return RedirectResponse(f"/admin/orders/{order_id}?error=state", status_code=303)
    return RedirectResponse(f"/admin/orders/{order_id}?done=refunded", status_code=303)


@router.post("/orders/{order_id}/refund-reject", summary="Back office: reject a refund request")
async def reject_refund(
    order_id: IdPath, session: SessionDep, staff: StaffPageUser, reason: Annotated[str, Form()] = ""
) -> Response:
    try:
        data = RefundReject(reason=reason)
    except ValidationError:
        await orders_service.get_or_raise(session, order_id)
        return RedirectResponse(f"/admin/orders/{order_id}?error=reason", status_code=303)
    try:
        await orders_staff.reject_refund(session, staff, order_id, data)
    except InvalidOrderState:
        return RedirectResponse(f"/admin/orders/{order_id}?error=state", status_code=303)
    return RedirectResponse(f"/admin/orders/{order_id}?done=rejected", status_code=303)


EXPORT_STATUS = {"pending": "排队中", "running": "正在生成", "done": "已完成", "failed": "生成失败"}


@router.post("/exports", summary="Back office: start a background export of orders")
async def start_export(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    form = await request.form()
    try:
        data = OrderExportCreate(
            format=str(form.get("format", "csv")),
            date_from=_parse_date(str(form.get("date_from", ""))),
            date_to=_parse_date(str(form.get("date_to", ""))),
        )
    except ValidationError:
        data = OrderExportCreate(format="csv")
    export = await orders_exports.start(session, staff, data)
    return RedirectResponse(f"/admin/exports/{export.id}", status_code=303)


@router.get("/exports/{export_id}", summary="Back office: progress of an export")
async def export_page(
    request: Request, export_id: IdPath, session: SessionDep, staff: StaffPageUser
) -> Response:
    export = orders_exports.to_read(await orders_exports.get_or_raise(session, export_id))
    return render(
        request,
        "admin/export.html",
        {
            "section": "orders",
            "export": export,
            "status_text": EXPORT_STATUS.get(export.status, export.status),
            "refresh": export.status in ("pending", "running"),
        },
        csp=True,
    )


@router.get("/exports/{export_id}/file", summary="Back office: download a finished export")
async def export_file(export_id: IdPath, session: SessionDep, staff: StaffPageUser) -> Response:
    path, name, media_type = await orders_exports.file_of(session, export_id)
    return FileResponse(path, media_type=media_type, filename=name)
