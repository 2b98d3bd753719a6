"""Back office: traceability batches — the list, the new-batch form, one batch with its events, trace-code
runs with progress, and label sheets. Producers and plots are in admin_producers, certificates in
admin_certificates; the three share app.storefront.trace_forms. Calls app.traceability.service like
/api/admin/batches does; the form is checked with the API's own schema (BatchCreate) and a bad form is shown
again with a Chinese message and status 422, nothing written."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.db import SessionDep, refusable
from app.errors import AppError
from app.kit.pagination import page_count
from app.kit.params import IdPath, parse_id, parse_int
from app.kit.time import SHOP_TZ
from app.storefront.dependencies import StaffPageUser, staff_pages_router
from app.storefront.forms import FormStr, page_number
from app.storefront.labels import EVENT_LABELS
from app.storefront.templating import render
from app.storefront.trace_forms import (
    batch_form_choices,
    form_errors,
    form_values,
    given,
    optional,
    refusal,
    select_id,
)
from app.traceability import issuing as trace_issuing
from app.traceability import service as trace_service
from app.traceability.models import EventType
from app.traceability.schemas import (
    MAX_RUN_CODES,
    BatchCreate,
    EventCreate,
)

router = staff_pages_router()

BATCHES_PER_PAGE = 20
MAX_LABELS_PER_SHEET = 1000
NOTICES = {"event": "已记录生产事件", "run": "已开始生成溯源码", "created": "批次已创建"}
ERRORS = {"event": "请选择事件类型并填写发生时间。", "count": f"数量请填写 1–{MAX_RUN_CODES} 的整数。"}


BATCH_DATES = ("planted_on", "harvested_on", "milled_on", "packed_on", "best_before_on")
BATCH_FIELDS = (
    "product_id",
    "producer_id",
    "plot_id",
    "plot_name",
    "batch_no",
    "variety",
    *BATCH_DATES,
    "quantity_kg",
    "notes",
)

BATCH_DATE_ORDER = "日期顺序不对：种植、收割、加工、包装依次不能早于前一项，保质期不能早于最后一个日期。"


@router.get("/batches", summary="Back office: batches")
async def batches(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    page_no = page_number(request.query_params.get("page"))
    rows, total = await trace_service.list_batches(
        session, product_id=None, offset=(page_no - 1) * BATCHES_PER_PAGE, limit=BATCHES_PER_PAGE
    )
    return render(
        request,
        "admin/batches.html",
        {
            "section": "trace",
            "batches": rows,
            "total": total,
            "page": page_no,
            "pages": page_count(total, BATCHES_PER_PAGE),
        },
        csp=True,
    )


async def _render_batch_form(
    request: Request,
    session: SessionDep,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/batch_new.html",
        {"section": "trace", "values": values, "errors": errors, **await batch_form_choices(session)},
        status_code=status_code,
        csp=True,
    )


@router.get("/batches/new", summary="Back office: new batch form")
async def new_batch_page(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    values = {"producer_id": request.query_params.get("producer", "")}
    return await _render_batch_form(request, session, values, {})


@router.post("/batches", summary="Back office: create a batch")
async def create_batch(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    values = await form_values(request, BATCH_FIELDS)
    errors: dict[str, str] = {}
    plot: int | str | None = select_id(values["plot_id"])
    if plot is not None and values["plot_name"]:
        errors["plot"] = "请选择已有地块，或填写新地块名称，二选一。"
    elif plot is None:
        plot = optional(values["plot_name"])
    payload: dict[str, Any] = {
        "product_id": select_id(values["product_id"]),
        "producer_id": select_id(values["producer_id"]),
        "plot": plot,
        "batch_no": optional(values["batch_no"]),
        "variety": values["variety"],
        **{name: optional(values[name]) for name in BATCH_DATES},
        "quantity_kg": optional(values["quantity_kg"]),
        "notes": values["notes"],
    }
    try:
        data = BatchCreate.model_validate(given(payload))
    except ValidationError as exc:
        errors = {**form_errors(exc, BATCH_DATE_ORDER), **errors}
    if errors:
        return await _render_batch_form(request, session, values, errors, 422)
    try:
        async with refusable(session):
            batch = await trace_service.create_batch(session, data)
    except AppError as exc:
        return await _render_batch_form(request, session, values, refusal(exc), 422)
    return RedirectResponse(f"/admin/batches/{batch.id}?done=created", status_code=303)


@router.get("/batches/{batch_id}", summary="Back office: one batch, its events and codes")
async def batch_detail(
    request: Request, batch_id: IdPath, session: SessionDep, staff: StaffPageUser
) -> Response:
    batch = await trace_service.get_batch_read(session, batch_id)
    events = await trace_service.list_events(session, batch_id)
    run = None
    run_id = parse_id(request.query_params.get("run"))
    if run_id is not None:
        candidate = await trace_issuing.get_code_run(session, run_id)
        run = candidate if candidate.batch_id == batch_id else None
    _codes, code_total = await trace_issuing.list_codes(session, batch_id, run_id=None, offset=0, limit=1)
    refresh = run is not None and run.finished_at is None
    return render(
        request,
        "admin/batch_detail.html",
        {
            "section": "trace",
            "batch": batch,
            "events": events,
            "event_types": [(t.value, EVENT_LABELS.get(t.value, t.value)) for t in EventType],
            "run": run,
            "code_total": code_total,
            "refresh": refresh,
            "max_run": MAX_RUN_CODES,
            "flash": NOTICES.get(request.query_params.get("done", "")),
            "error": ERRORS.get(request.query_params.get("error", "")),
        },
        csp=True,
    )


@router.post("/batches/{batch_id}/events", summary="Back office: record a batch event")
async def record_event(
    batch_id: IdPath,
    session: SessionDep,
    staff: StaffPageUser,
    type: FormStr = "",
    occurred_at: FormStr = "",
    location: FormStr = "",
) -> Response:
    await trace_service.get_batch_or_raise(session, batch_id)
    try:
        # The form's datetime-local is shop time (Beijing).
        moment = datetime.fromisoformat(occurred_at).replace(tzinfo=SHOP_TZ)
        data = EventCreate(type=type, occurred_at=moment, location=location.strip())
    except (ValueError, ValidationError):
        return RedirectResponse(f"/admin/batches/{batch_id}?error=event", status_code=303)
    await trace_service.record_event(session, batch_id, data, recorded_by=staff.id)
    return RedirectResponse(f"/admin/batches/{batch_id}?done=event", status_code=303)


@router.post("/batches/{batch_id}/code-runs", summary="Back office: issue trace codes in the background")
async def start_run(
    batch_id: IdPath, session: SessionDep, staff: StaffPageUser, count: FormStr = ""
) -> Response:
    await trace_service.get_batch_or_raise(session, batch_id)
    n = parse_int(count.strip()) or 0
    if not 1 <= n <= MAX_RUN_CODES:
        return RedirectResponse(f"/admin/batches/{batch_id}?error=count", status_code=303)
    run = await trace_issuing.start_code_run(session, batch_id, n, requested_by=staff.id)
    return RedirectResponse(f"/admin/batches/{batch_id}?done=run&run={run.id}", status_code=303)


@router.get("/batches/{batch_id}/labels.pdf", summary="Back office: label sheet of a batch's codes")
async def label_sheet(
    request: Request, batch_id: IdPath, session: SessionDep, staff: StaffPageUser
) -> Response:
    run_id = parse_id(request.query_params.get("run"))
    sheet = await trace_issuing.batch_label_sheet(
        session, batch_id, run_id=run_id, limit=MAX_LABELS_PER_SHEET
    )
    return Response(
        sheet.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{sheet.filename}"'},
    )
