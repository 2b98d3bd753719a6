"""Corporate gift boxes (企业定制礼盒) as pages for the company: the request form (the recipient list uploaded as
CSV or Excel; every bad row shown by its row number), my requests, and one request with its quote, proof,
accept and approve buttons. They call app.gifts.service and, to accept, the same flow as
POST /api/custom-requests/{id}/accept (app.flows.custom_orders)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from app.db import SessionDep, refusable, utcnow
from app.errors import AppError
from app.flows import custom_orders
from app.gifts import proofs
from app.gifts import service as gifts_service
from app.gifts.models import CustomRequest
from app.gifts.schemas import CustomRequestCreate
from app.kit.params import IdPath, parse_id, parse_int
from app.kit.time import SHOP_TZ
from app.storefront.dependencies import SignedInPageUser, load_cart_count
from app.storefront.forms import FormStr, page_number, parse
from app.storefront.messages import CODE_MESSAGES
from app.storefront.templating import render
from app.traceability import files as trace_files

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(load_cart_count)])

PER_PAGE = 20
MAX_LIST_BYTES = 8 * 1024 * 1024
STATUS_LABELS = {
    "requested": "待报价",
    "quoted": "已报价",
    "proof_ready": "设计稿待确认",
    "in_production": "制作中",
}
MESSAGES = {
    "quantity_too_small": "定制礼盒起订量不足。",
    "invalid_recipients": "收件人名单有误，请按行号修改后重新上传。",
    "unsupported_file": "请上传 CSV 或 Excel（.xlsx）文件，首行为列名。",
    "sku_not_found": "规格不存在或已下架。",
    "quote_expired": "报价已过期，请联系我们重新报价。",
    "already_accepted": "该报价已接受，订单已生成。",
    "invalid_request_state": "当前状态下不能进行此操作。",
    "request_in_progress": "正在处理，请稍候刷新。",
}
NOTICES = {
    "created": "定制需求已提交，我们会尽快报价。",
    "approved": "设计稿已确认，礼盒开始制作。",
}
FIELD_LABELS = {
    "company": "公司名称",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
    "sku_id": "规格编号",
    "quantity": "盒数",
    "packaging_text": "包装文字",
    "deliver_by": "送达日期",
}


def message(exc: AppError) -> str:
    return MESSAGES.get(exc.code, CODE_MESSAGES.get(exc.code, exc.detail))


def card(request: CustomRequest) -> dict[str, Any]:
    return {
        "row": request,
        "status_label": STATUS_LABELS.get(request.status, request.status),
        "total_fen": gifts_service.total_fen(request),
        "accepted": request.order_id is not None,
        "quote_valid": request.valid_until is not None and request.valid_until > utcnow(),
    }


async def _list_page(
    request: Request,
    session: SessionDep,
    user: Any,
    *,
    errors: dict[str, str] | None = None,
    row_errors: list[dict[str, Any]] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    page_no = page_number(request.query_params.get("page"))
    rows, total = await gifts_service.list_own(session, user, (page_no - 1) * PER_PAGE, PER_PAGE)
    deliver_by = (utcnow().astimezone(SHOP_TZ) + timedelta(days=30)).date().isoformat()
    return render(
        request,
        "storefront/custom_requests.html",
        {
            "cards": [card(r) for r in rows],
            "total": total,
            "page": page_no,
            "pages": max(1, -(-total // PER_PAGE)),
            "page_url": lambda n: f"/custom-requests?page={n}",
            "notice": NOTICES.get(request.query_params.get("done", "")),
            "errors": errors or {},
            "row_errors": row_errors or [],
            "values": {"deliver_by": deliver_by, "quantity": "20", **(values or {})},
        },
        status_code=status_code,
    )


@router.get("/custom-requests", summary="Custom gift boxes: my requests and a new one")
async def my_requests(request: Request, session: SessionDep, user: SignedInPageUser) -> Response:
    return await _list_page(request, session, user)


@router.post("/custom-requests", summary="Request custom gift boxes with a recipient list")
async def create_request(
    request: Request,
    session: SessionDep,
    user: SignedInPageUser,
    recipients_file: UploadFile | None = None,
    company: FormStr = "",
    contact_name: FormStr = "",
    contact_phone: FormStr = "",
    sku_id: FormStr = "",
    quantity: FormStr = "",
    packaging_text: FormStr = "",
    deliver_by: FormStr = "",
) -> Response:
    values = {
        "company": company,
        "contact_name": contact_name,
        "contact_phone": contact_phone,
        "sku_id": sku_id,
        "quantity": quantity,
        "packaging_text": packaging_text,
        "deliver_by": deliver_by,
    }
    try:
        deliver_on: date | None = date.fromisoformat(deliver_by.strip())
    except ValueError:
        deliver_on = None
    data, errors = parse(
        CustomRequestCreate,
        {
            **values,
            "sku_id": parse_id(sku_id),
            "quantity": parse_int(quantity, lo=1, hi=100_000),
            "deliver_by": deliver_on,
        },
    )
    errors = {field: f"请正确填写{FIELD_LABELS.get(field, field)}" for field in errors}
    content = await recipients_file.read(MAX_LIST_BYTES + 1) if recipients_file is not None else b""
    if not content:
        errors["recipients_file"] = "请上传收件人名单（CSV 或 Excel）"
    if errors or data is None:
        return await _list_page(request, session, user, errors=errors, values=values, status_code=422)
    try:
        async with refusable(session):
            created = await gifts_service.create(session, user, data)
            await gifts_service.upload_recipients(session, user, created.id, content)
    except AppError as exc:
        return await _list_page(
            request,
            session,
            user,
            errors={"__all__": message(exc) + ("" if exc.code != "invalid_recipients" else f" {exc.detail}")},
            row_errors=list(exc.extra.get("errors", [])),
            values=values,
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/custom-requests/{created.id}?done=created", status_code=303)


async def _detail(
    request: Request,
    session: SessionDep,
    user: Any,
    request_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    row = await gifts_service.get_own_or_raise(session, user, request_id)
    return render(
        request,
        "storefront/custom_request.html",
        {
            **card(row),
            "notice": NOTICES.get(request.query_params.get("done", "")),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/custom-requests/{request_id}", summary="One of my custom requests")
async def my_request(
    request: Request, request_id: IdPath, session: SessionDep, user: SignedInPageUser
) -> Response:
    return await _detail(request, session, user, request_id)


@router.post("/custom-requests/{request_id}/accept", summary="Accept the quote: an order to pay")
async def accept(
    request: Request, request_id: IdPath, session: SessionDep, user: SignedInPageUser
) -> Response:
    user_id = user.id
    try:
        async with refusable(session):
            order = await custom_orders.accept(session, user, request_id)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        fresh = await session.get(type(user), user_id)
        return await _detail(
            request, session, fresh, request_id, error=message(exc), status_code=exc.status_code
        )
    return RedirectResponse(f"/orders/{order['id']}?done=placed", status_code=303)


@router.post("/custom-requests/{request_id}/approve-proof", summary="Approve the artwork proof")
async def approve_proof(
    request: Request, request_id: IdPath, session: SessionDep, user: SignedInPageUser
) -> Response:
    try:
        async with refusable(session):
            await gifts_service.approve_proof(session, user, request_id)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        detail = "订单付款后才能确认设计稿、开始制作。" if exc.extra.get("order_status") else message(exc)
        return await _detail(request, session, user, request_id, error=detail, status_code=exc.status_code)
    return RedirectResponse(f"/custom-requests/{request_id}?done=approved", status_code=303)


async def proof_file(row: CustomRequest) -> Response:
    data = await proofs.read(row.proof_path) if row.proof_path else None
    if data is None or row.proof_content_type is None:
        return Response("没有设计稿", status_code=404, media_type="text/plain; charset=utf-8")
    ext = trace_files.EXTENSIONS.get(row.proof_content_type, "bin")
    return Response(
        data,
        media_type=row.proof_content_type,
        headers={
            **trace_files.FILE_HEADERS,
            "Content-Disposition": f'attachment; filename="proof-{row.id}.{ext}"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/custom-requests/{request_id}/proof", summary="My request's artwork proof")
async def my_proof(request_id: IdPath, session: SessionDep, user: SignedInPageUser) -> Response:
    return await proof_file(await gifts_service.get_own_or_raise(session, user, request_id))
