"""Back office: traceability — batches with their events, trace-code runs with progress and label sheets,
certificates. Calls app.traceability.service like /api/admin/batches does."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.db import SessionDep
from app.kit.params import IdPath
from app.storefront.dependencies import StaffPageUser, require_staff_page_user
from app.storefront.templating import SHOP_TZ, render
from app.traceability import labels
from app.traceability import repository as trace_repository
from app.traceability import service as trace_service
from app.traceability.models import EventType
from app.traceability.pages import EVENT_LABELS
from app.traceability.schemas import MAX_RUN_CODES, EventCreate

router = APIRouter(
    prefix="/admin", tags=["pages"], include_in_schema=False, dependencies=[Depends(require_staff_page_user)]
)

FormStr = Annotated[str, Form()]
BATCHES_PER_PAGE = 20
MAX_LABELS_PER_SHEET = 1000
NOTICES = {"event": "已记录生产事件", "run": "已开始生成溯源码"}
ERRORS = {"event": "请选择事件类型并填写发生时间。", "count": f"数量请填写 1–{MAX_RUN_CODES} 的整数。"}


@router.get("/batches", summary="Back office: batches")
async def batches(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    raw = request.query_params.get("page", "1")
    page_no = min(int(raw), 10_000) if raw.isdigit() and int(raw) >= 1 else 1
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
            "pages": max(1, -(-total // BATCHES_PER_PAGE)),
        },
        csp=True,
    )


@router.get("/batches/{batch_id}", summary="Back office: one batch, its events and codes")
async def batch_detail(
    request: Request, batch_id: IdPath, session: SessionDep, staff: StaffPageUser
) -> Response:
    batch = await trace_service.get_batch_read(session, batch_id)
    events = await trace_service.list_events(session, batch_id)
    run = None
    run_raw = request.query_params.get("run", "")
    if run_raw.isdigit():
        candidate = await trace_service.get_code_run(session, int(run_raw))
        run = candidate if candidate.batch_id == batch_id else None
    _codes, code_total = await trace_service.list_codes(session, batch_id, run_id=None, offset=0, limit=1)
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
            "flash": {"event": NOTICES["event"], "run": NOTICES["run"]}.get(
                request.query_params.get("done", "")
            ),
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
    n = int(count) if count.strip().isdigit() else 0
    if not 1 <= n <= MAX_RUN_CODES:
        return RedirectResponse(f"/admin/batches/{batch_id}?error=count", status_code=303)
    run = await trace_service.start_code_run(session, batch_id, n, requested_by=staff.id)
    return RedirectResponse(f"/admin/batches/{batch_id}?done=run&run={run.id}", status_code=303)


@router.get("/batches/{batch_id}/labels.pdf", summary="Back office: label sheet of a batch's codes")
async def label_sheet(
    request: Request, batch_id: IdPath, session: SessionDep, staff: StaffPageUser
) -> Response:
    run_raw = request.query_params.get("run", "")
    run_id = int(run_raw) if run_raw.isdigit() else None
    batch, codes = await trace_service.codes_for_labels(
        session, batch_id, run_id=run_id, limit=MAX_LABELS_PER_SHEET
    )
    pdf = await anyio.to_thread.run_sync(
        labels.label_sheet, codes, trace_service.trace_url, f"Trace labels {batch.batch_no}"
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="labels-{batch.batch_no}.pdf"'},
    )


@router.get("/certificates", summary="Back office: certificates")
async def certificates(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    rows, total = await trace_repository.list_certificates(
        session, producer_id=None, batch_id=None, product_id=None, offset=0, limit=200
    )
    items = sorted((trace_service.certificate_read(c) for c in rows), key=lambda c: c.valid_until)
    return render(
        request,
        "admin/certificates.html",
        {"section": "trace", "certificates": items, "total": total},
        csp=True,
    )
