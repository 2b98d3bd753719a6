from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import FileResponse, Response, StreamingResponse

from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.pagination import CursorDep, CursorPage, Page, PageParamsDep
from app.kit.params import IdPath
from app.orders import export, export_jobs, service
from app.orders import staff as orders_staff
from app.orders.errors import (
    ExportNotFound,
    ExportNotReady,
    InvalidOrderState,
    OrderNotFound,
    RefundRequestLimitReached,
)
from app.orders.models import Order, OrderStatus
from app.orders.schemas import (
    AdminOrderRead,
    OrderExportCreate,
    OrderExportRead,
    OrderRead,
    RefundReject,
    RefundRequest,
    ShipRequest,
)
from app.users.dependencies import CurrentUser, StaffUser

router = APIRouter()
TAGS = ["orders"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ADMIN_TAGS = ["orders (staff)"]

StatusQuery = Annotated[OrderStatus | None, Query(alias="status", description="only orders in this status")]


@router.get(
    "/api/orders",
    response_model=Page[OrderRead],
    tags=TAGS,
    summary="My orders, newest first",
    responses=problem_responses(NotAuthenticated),
)
async def list_my_orders(
    user: CurrentUser, session: SessionDep, page: PageParamsDep, status_: StatusQuery = None
) -> Page[OrderRead]:
    orders, total = await service.list_for_customer(session, user, status_, page.offset, page.size)
    return Page(items=[service.to_read(o) for o in orders], total=total, page=page.page, size=page.size)


@router.get(
    "/api/orders/{order_id}",
    response_model=OrderRead,
    tags=TAGS,
    summary="One of my orders, with its history",
    responses=problem_responses(NotAuthenticated, OrderNotFound),
)
async def get_my_order(order_id: IdPath, user: CurrentUser, session: SessionDep) -> OrderRead:
    return service.to_read(await service.get_for_customer(session, user, order_id))


@router.post(
    "/api/orders/{order_id}/cancel",
    response_model=OrderRead,
    tags=TAGS,
    summary="Cancel my unpaid order; its stock goes back",
    responses=problem_responses(NotAuthenticated, OrderNotFound, InvalidOrderState, validation=False),
    operation_id="cancelOrder",
)
async def cancel(order_id: IdPath, user: CurrentUser, session: SessionDep) -> OrderRead:
    return service.to_read(await service.cancel_by_customer(session, user, order_id))


@router.post(
    "/api/orders/{order_id}/confirm-receipt",
    response_model=OrderRead,
    tags=TAGS,
    summary="Confirm that my shipped order arrived",
    responses=problem_responses(NotAuthenticated, OrderNotFound, InvalidOrderState, validation=False),
)
async def confirm_receipt(order_id: IdPath, user: CurrentUser, session: SessionDep) -> OrderRead:
    return service.to_read(await service.confirm_receipt(session, user, order_id))


@router.post(
    "/api/orders/{order_id}/refund-request",
    response_model=OrderRead,
    tags=TAGS,
    summary="Ask for a refund of my paid or shipped order, with a reason (at most "
    "MAX_REFUND_REQUESTS_PER_ORDER requests per order)",
    responses=problem_responses(
        NotAuthenticated, OrderNotFound, InvalidOrderState, RefundRequestLimitReached
    ),
)
async def request_refund(
    order_id: IdPath, data: RefundRequest, user: CurrentUser, session: SessionDep
) -> OrderRead:
    return service.to_read(await service.request_refund(session, user, order_id, data.reason))


# ------------------------------------------------------------------------------------------------ staff


async def _admin_read(session: SessionDep, order: Order, phone: str | None = None) -> AdminOrderRead:
    data = service.to_read(order).model_dump()
    return AdminOrderRead(
        **data, user_id=order.user_id, buyer_phone=phone or await orders_staff.buyer_phone(session, order)
    )


@router.get(
    "/api/admin/orders",
    response_model=CursorPage[AdminOrderRead],
    tags=ADMIN_TAGS,
    summary="All orders, newest first, by status, date (Beijing time, inclusive) and phone",
    description="The total is exact up to 10,000 orders (`total_exact`); deeper pages by `?after=next_cursor`.",
    responses=problem_responses(NotAuthenticated, Forbidden),
)
async def list_orders(
    staff: StaffUser,
    session: SessionDep,
    page: PageParamsDep,
    after: CursorDep,
    status_: StatusQuery = None,
    date_from: Annotated[date | None, Query(description="placed on or after this day")] = None,
    date_to: Annotated[date | None, Query(description="placed on or before this day")] = None,
    phone: Annotated[
        str | None, Query(max_length=20, description="the buyer's account phone or the recipient's phone")
    ] = None,
) -> CursorPage[AdminOrderRead]:
    rows, total, exact = await orders_staff.list_for_staff(
        session,
        status=status_,
        date_from=date_from,
        date_to=date_to,
        phone=phone,
        offset=page.offset,
        limit=page.size,
        before_id=after,
    )
    items = [await _admin_read(session, order, phone_) for order, phone_ in rows]
    next_cursor = str(rows[-1][0].id) if len(rows) == page.size else None
    return CursorPage(
        items=items, total=total, page=page.page, size=page.size, next_cursor=next_cursor, total_exact=exact
    )


@router.get(
    "/api/admin/orders/export.csv",
    tags=ADMIN_TAGS,
    summary="Orders placed in a date range (Beijing time, inclusive) as CSV (UTF-8 with BOM, for Excel)",
    description="Every order in the range, oldest first, streamed as it is read (no cap).",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "one order per line"},
        **problem_responses(NotAuthenticated, Forbidden),
    },
)
async def export_orders(
    staff: StaffUser,
    date_from: Annotated[date | None, Query(description="placed on or after this day")] = None,
    date_to: Annotated[date | None, Query(description="placed on or before this day")] = None,
) -> Response:
    name = f"orders-{date_from or 'all'}-{date_to or 'all'}.csv"
    return StreamingResponse(
        export.export_csv(date_from, date_to),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/api/admin/orders/export.xlsx",
    tags=ADMIN_TAGS,
    summary="The same export as an Excel workbook (.xlsx)",
    description="Every order in the range, oldest first (no cap); built in a temporary file, not in memory.",
    response_class=Response,
    responses={
        200: {"content": {XLSX: {}}, "description": "one order per row"},
        **problem_responses(NotAuthenticated, Forbidden),
    },
)
async def export_orders_xlsx(
    staff: StaffUser,
    date_from: Annotated[date | None, Query(description="placed on or after this day")] = None,
    date_to: Annotated[date | None, Query(description="placed on or before this day")] = None,
) -> Response:
    name = f"orders-{date_from or 'all'}-{date_to or 'all'}.xlsx"
    return StreamingResponse(
        export.export_xlsx(date_from, date_to),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post(
    "/api/admin/order-exports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OrderExportRead,
    tags=ADMIN_TAGS,
    summary="Export orders in the background (any size); watch GET /api/admin/order-exports/{id}",
    description="The worker writes the file chunk by chunk (every order in the range, no cap) and records its "
    "progress; download it from `download_url` once `status` is `done`.",
    responses=problem_responses(NotAuthenticated, Forbidden),
)
async def start_export(data: OrderExportCreate, staff: StaffUser, session: SessionDep) -> OrderExportRead:
    return export_jobs.to_read(await export_jobs.start(session, staff, data))


@router.get(
    "/api/admin/order-exports/{export_id}",
    response_model=OrderExportRead,
    tags=ADMIN_TAGS,
    summary="Progress of a background export",
    responses=problem_responses(NotAuthenticated, Forbidden, ExportNotFound),
)
async def get_export(export_id: IdPath, staff: StaffUser, session: SessionDep) -> OrderExportRead:
    return export_jobs.to_read(await export_jobs.get_or_raise(session, export_id))


@router.get(
    "/api/admin/order-exports/{export_id}/file",
    tags=ADMIN_TAGS,
    summary="The file of a finished background export",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}, XLSX: {}}, "description": "the export"},
        **problem_responses(NotAuthenticated, Forbidden, ExportNotFound, ExportNotReady),
    },
)
async def download_export(export_id: IdPath, staff: StaffUser, session: SessionDep) -> Response:
    path, name, media_type = await export_jobs.file_of(session, export_id)
    return FileResponse(path, media_type=media_type, filename=name)


@router.get(
    "/api/admin/orders/{order_id}",
    response_model=AdminOrderRead,
    tags=ADMIN_TAGS,
    summary="One order, with its history",
    responses=problem_responses(NotAuthenticated, Forbidden, OrderNotFound),
)
async def get_order(order_id: IdPath, staff: StaffUser, session: SessionDep) -> AdminOrderRead:
    return await _admin_read(session, await service.get_or_raise(session, order_id))


@router.post(
    "/api/admin/orders/{order_id}/ship",
    response_model=AdminOrderRead,
    tags=ADMIN_TAGS,
    summary="Ship a paid order with a carrier and tracking number (optionally the batch of each line)",
    responses=problem_responses(NotAuthenticated, Forbidden, OrderNotFound, InvalidOrderState),
    operation_id="shipOrder",
)
async def ship(order_id: IdPath, data: ShipRequest, staff: StaffUser, session: SessionDep) -> AdminOrderRead:
    return await _admin_read(session, await orders_staff.ship(session, staff, order_id, data))


@router.post(
    "/api/admin/orders/{order_id}/refund-reject",
    response_model=AdminOrderRead,
    tags=ADMIN_TAGS,
    summary="Reject a refund request with a reason; the order goes back to paid or shipped",
    responses=problem_responses(NotAuthenticated, Forbidden, OrderNotFound, InvalidOrderState),
)
async def reject_refund(
    order_id: IdPath, data: RefundReject, staff: StaffUser, session: SessionDep
) -> AdminOrderRead:
    return await _admin_read(session, await orders_staff.reject_refund(session, staff, order_id, data))
