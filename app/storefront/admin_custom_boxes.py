"""Corporate gift boxes in the back office: the requests with their progress (recipients imported, parcels
shipped n of m), and one request's page to quote, upload the proof, confirm a bank transfer, ship each
recipient's parcel and download the courier's shipping list (XLSX). They call app.gifts.service, the orders'
ship (the same as POST /api/admin/orders/{id}/ship with recipient_index) and app.payments.offline."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.db import SessionDep, refusable, utcnow
from app.errors import AppError
from app.gifts import service as gifts_service
from app.gifts.models import RequestStatus
from app.gifts.schemas import QuoteCreate
from app.kit.params import IdPath, parse_int
from app.kit.time import SHOP_TZ
from app.orders import service as orders_service
from app.orders import staff as orders_staff
from app.orders.schemas import CARRIERS, ShipRequest
from app.payments import offline
from app.storefront.admin_products import yuan_to_fen
from app.storefront.custom_boxes import STATUS_LABELS, card, message, proof_file
from app.storefront.dependencies import StaffPageUser, require_staff_page_user
from app.storefront.forms import FormStr, page_number
from app.storefront.templating import ADMIN_SECTIONS, render

admin_router = APIRouter(
    prefix="/admin", tags=["pages"], include_in_schema=False, dependencies=[Depends(require_staff_page_user)]
)

ADMIN_SECTIONS.append(("custom_requests", "/admin/custom-requests", "企业定制"))

PER_PAGE = 20
RECIPIENTS_PER_PAGE = 100
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NOTICES = {
    "quoted": "报价已发送给客户",
    "proof": "设计稿已上传，等待客户确认",
    "paid": "已确认对公转账到账，订单已付款",
    "shipped": "包裹已发出",
}


@admin_router.get("/custom-requests", summary="Back office: custom requests with their progress")
async def admin_requests(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    page_no = page_number(request.query_params.get("page"))
    status = request.query_params.get("status") or None
    status = status if status in STATUS_LABELS else None
    rows, total = await gifts_service.list_for_staff(session, status, (page_no - 1) * PER_PAGE, PER_PAGE)
    return render(
        request,
        "admin/custom_requests.html",
        {
            "section": "custom_requests",
            "cards": [card(r) for r in rows],
            "total": total,
            "status": status,
            "status_labels": STATUS_LABELS,
            "page": page_no,
            "pages": max(1, -(-total // PER_PAGE)),
            "page_url": lambda n: (
                f"/admin/custom-requests?page={n}" + (f"&status={status}" if status else "")
            ),
        },
    )


async def _detail(
    request: Request,
    session: SessionDep,
    request_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    row = await gifts_service.get_or_raise(session, request_id)
    page_no = page_number(request.query_params.get("page"))
    recipients = await gifts_service.recipients_page(
        session, row, (page_no - 1) * RECIPIENTS_PER_PAGE, RECIPIENTS_PER_PAGE
    )
    order = await orders_service.get_or_raise(session, row.order_id) if row.order_id is not None else None
    valid_until = (utcnow().astimezone(SHOP_TZ) + timedelta(days=14)).date().isoformat()
    return render(
        request,
        "admin/custom_request.html",
        {
            "section": "custom_requests",
            **card(row),
            "order": order,
            "recipients": recipients,
            "carriers": CARRIERS,
            "valid_until_default": valid_until,
            "can_ship": order is not None
            and order.status == "paid"
            and row.status == RequestStatus.in_production,
            "page": page_no,
            "pages": max(1, -(-row.recipients_count // RECIPIENTS_PER_PAGE)),
            "page_url": lambda n: f"/admin/custom-requests/{row.id}?page={n}",
            "notice": NOTICES.get(request.query_params.get("done", "")),
            "error": error,
        },
        status_code=status_code,
    )


@admin_router.get("/custom-requests/{request_id}", summary="Back office: one custom request")
async def admin_request(
    request: Request, request_id: IdPath, session: SessionDep, staff: StaffPageUser
) -> Response:
    return await _detail(request, session, request_id)


async def _refused(request: Request, session: SessionDep, request_id: int, exc: AppError) -> Response:
    if exc.status_code == 404 and exc.code == "custom_request_not_found":
        raise exc
    return await _detail(request, session, request_id, error=message(exc), status_code=exc.status_code)


def _end_of_day(text: str) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(text.strip()), time(23, 59, 59), tzinfo=SHOP_TZ)
    except ValueError:
        return None


@admin_router.post("/custom-requests/{request_id}/quote", summary="Back office: quote a custom request")
async def admin_quote(
    request: Request,
    request_id: IdPath,
    session: SessionDep,
    staff: StaffPageUser,
    unit_price: FormStr = "",
    setup_fee: FormStr = "",
    valid_until: FormStr = "",
) -> Response:
    try:
        data = QuoteCreate.model_validate(
            {
                "unit_price_fen": yuan_to_fen(unit_price),
                "setup_fee_fen": yuan_to_fen(setup_fee),
                "valid_until": _end_of_day(valid_until),
            }
        )
    except ValidationError:
        return await _detail(
            request, session, request_id, error="请填写单价、制版费（元）和报价有效期。", status_code=422
        )
    try:
        async with refusable(session):
            await gifts_service.quote(session, staff, request_id, data)
    except AppError as exc:
        return await _refused(request, session, request_id, exc)
    return RedirectResponse(f"/admin/custom-requests/{request_id}?done=quoted", status_code=303)


@admin_router.post("/custom-requests/{request_id}/proof", summary="Back office: upload the artwork proof")
async def admin_proof(
    request: Request, request_id: IdPath, session: SessionDep, staff: StaffPageUser, file: UploadFile
) -> Response:
    data = await file.read(9 * 1024 * 1024)
    try:
        async with refusable(session):
            await gifts_service.upload_proof(session, staff, request_id, data)
    except AppError as exc:
        return await _refused(request, session, request_id, exc)
    return RedirectResponse(f"/admin/custom-requests/{request_id}?done=proof", status_code=303)


@admin_router.get("/custom-requests/{request_id}/proof", summary="Back office: the artwork proof")
async def admin_proof_file(request_id: IdPath, session: SessionDep, staff: StaffPageUser) -> Response:
    return await proof_file(await gifts_service.get_or_raise(session, request_id))


@admin_router.post(
    "/custom-requests/{request_id}/offline-payment", summary="Back office: confirm a bank transfer"
)
async def admin_offline_payment(
    request: Request,
    request_id: IdPath,
    session: SessionDep,
    staff: StaffPageUser,
    amount: FormStr = "",
    reference: FormStr = "",
) -> Response:
    row = await gifts_service.get_or_raise(session, request_id)
    try:
        data = offline.OfflinePaymentCreate.model_validate(
            {"amount_fen": yuan_to_fen(amount), "reference": reference}
        )
    except ValidationError:
        return await _detail(
            request, session, request_id, error="请填写到账金额（元）和银行流水号。", status_code=422
        )
    if row.order_id is None:
        return await _detail(request, session, request_id, error="客户尚未接受报价。", status_code=409)
    try:
        async with refusable(session):
            await offline.confirm(session, staff, row.order_id, data)
    except AppError as exc:
        if exc.code == "amount_mismatch":
            return await _detail(
                request, session, request_id, error="到账金额与订单应付金额不符。", status_code=400
            )
        return await _refused(request, session, request_id, exc)
    return RedirectResponse(f"/admin/custom-requests/{request_id}?done=paid", status_code=303)


@admin_router.post("/custom-requests/{request_id}/ship", summary="Back office: ship one recipient's parcel")
async def admin_ship(
    request: Request,
    request_id: IdPath,
    session: SessionDep,
    staff: StaffPageUser,
    recipient_index: FormStr = "",
    carrier: FormStr = "",
    tracking_no: FormStr = "",
) -> Response:
    row = await gifts_service.get_or_raise(session, request_id)
    page = request.query_params.get("page", "1")
    try:
        data = ShipRequest.model_validate(
            {
                "carrier": carrier,
                "tracking_no": tracking_no,
                "recipient_index": parse_int(recipient_index, lo=1),
            }
        )
    except ValidationError:
        return await _detail(
            request,
            session,
            request_id,
            error="请选择快递公司并填写运单号（6–40 位字母或数字）。",
            status_code=422,
        )
    if row.order_id is None:
        return await _detail(request, session, request_id, error="客户尚未接受报价。", status_code=409)
    try:
        async with refusable(session):
            await orders_staff.ship(session, staff, row.order_id, data)
    except AppError as exc:
        messages = {
            "parcel_already_shipped": "这位收件人的包裹已经发出。",
            "recipient_not_found": "没有这位收件人。",
        }
        if exc.code in messages:
            return await _detail(
                request, session, request_id, error=messages[exc.code], status_code=exc.status_code
            )
        return await _refused(request, session, request_id, exc)
    return RedirectResponse(
        f"/admin/custom-requests/{request_id}?done=shipped&page={page_number(page)}", status_code=303
    )


@admin_router.get(
    "/custom-requests/{request_id}/shipping-list.xlsx", summary="Back office: the shipping list"
)
async def admin_shipping_list(request_id: IdPath, session: SessionDep, staff: StaffPageUser) -> Response:
    row, data = await gifts_service.shipping_list(session, request_id)
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="custom-{row.id}-shipping.xlsx"'},
    )
