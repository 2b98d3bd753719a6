"""Back office (administrators): webhooks — subscribe a merchant's system to events, see the delivery log of
each, redeliver an event, disable a webhook; on app.webhooks.service (the same calls as /api/admin/webhooks).
The signing secret is shown once, on the page that answers the creation."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.db import SessionDep, refusable
from app.errors import AppError
from app.kit.pagination import PageParams
from app.kit.params import IdPath
from app.storefront.dependencies import AdminPageUser, require_admin_page_user
from app.storefront.forms import FormStr, page_number
from app.storefront.templating import ADMIN_ONLY_SECTIONS, ADMIN_SECTIONS, render
from app.webhooks import service as webhooks_service
from app.webhooks.schemas import WebhookCreate

router = APIRouter(
    prefix="/admin", tags=["pages"], include_in_schema=False, dependencies=[Depends(require_admin_page_user)]
)

ADMIN_SECTIONS.append(("webhooks", "/admin/webhooks", "Webhook"))
ADMIN_ONLY_SECTIONS.add("webhooks")

PER_PAGE = 20
NOTICES = {
    "disabled": "Webhook 已停用，等待中的投递已取消",
    "redelivered": "已安排重新投递，worker 下一轮即发送",
}
ERRORS = {
    "webhook_url_refused": "地址不可用：只接受 http/https，且不能指向内网、本机或保留地址。",
    "webhook_disabled": "已停用的 Webhook 不再投递，请新建一个。",
    "webhook_delivery_not_found": "没有这条投递记录。",
}


def _event_types(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,，、]+", text.strip()) if part]


async def _list_page(
    request: Request,
    session: SessionDep,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    created: object = None,
    status_code: int = 200,
) -> Response:
    params = request.query_params
    page = await webhooks_service.list_all(
        session, PageParams(page=page_number(params.get("page")), size=PER_PAGE)
    )
    return render(
        request,
        "admin/webhooks.html",
        {
            "section": "webhooks",
            "page": page,
            "values": values or {},
            "notice": NOTICES.get(params.get("done", "")),
            "error": error,
            "created": created,
        },
        status_code=status_code,
    )


@router.get("/webhooks", summary="Back office: webhooks")
async def webhooks(request: Request, session: SessionDep, admin: AdminPageUser) -> Response:
    return await _list_page(request, session)


@router.post("/webhooks", summary="Back office: create a webhook")
async def create_webhook_page(
    request: Request, session: SessionDep, admin: AdminPageUser, url: FormStr = "", event_types: FormStr = ""
) -> Response:
    values = {"url": url, "event_types": event_types}
    try:
        data = WebhookCreate(url=url, event_types=_event_types(event_types))
    except ValidationError:
        error = "请填写接收地址和至少一个事件类型（如 order.paid）。"
        return await _list_page(request, session, values=values, error=error, status_code=422)
    try:
        async with refusable(session):
            created = await webhooks_service.create(session, data, admin)
    except AppError as exc:
        error = ERRORS.get(exc.code, "无法创建 Webhook。")
        return await _list_page(request, session, values=values, error=error, status_code=exc.status_code)
    return await _list_page(request, session, created=created, status_code=201)


@router.post("/webhooks/{webhook_id}/disable", summary="Back office: disable a webhook")
async def disable_webhook_page(webhook_id: IdPath, session: SessionDep, admin: AdminPageUser) -> Response:
    await webhooks_service.disable(session, webhook_id, admin)
    return RedirectResponse(f"/admin/webhooks/{webhook_id}?done=disabled", status_code=303)


@router.get("/webhooks/{webhook_id}", summary="Back office: a webhook's delivery log")
async def webhook_detail(
    request: Request, webhook_id: IdPath, session: SessionDep, admin: AdminPageUser
) -> Response:
    params = request.query_params
    webhook = await webhooks_service.get_or_raise(session, webhook_id)
    log = await webhooks_service.list_deliveries(
        session, webhook_id, PageParams(page=page_number(params.get("page")), size=PER_PAGE)
    )
    return render(
        request,
        "admin/webhook_detail.html",
        {
            "section": "webhooks",
            "webhook": webhook,
            "page": log,
            "notice": NOTICES.get(params.get("done", "")),
            "error": ERRORS.get(params.get("error", "")),
        },
    )


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", summary="Back office: send an event again"
)
async def redeliver_page(
    webhook_id: IdPath, delivery_id: IdPath, session: SessionDep, admin: AdminPageUser
) -> Response:
    try:
        async with refusable(session):
            await webhooks_service.redeliver(session, webhook_id, delivery_id, admin)
    except AppError as exc:
        if exc.code == "webhook_not_found":
            raise
        return RedirectResponse(f"/admin/webhooks/{webhook_id}?error={exc.code}", status_code=303)
    return RedirectResponse(f"/admin/webhooks/{webhook_id}?done=redelivered", status_code=303)
