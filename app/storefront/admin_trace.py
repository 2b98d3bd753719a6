"""Back office: traceability — producers and their plots, batches with their events, trace-code runs with
progress and label sheets, certificates. Calls app.traceability.service like /api/admin/batches does;
the create forms are checked with the API's own schemas (ProducerCreate, PlotCreate, BatchCreate,
CertificateCreate) and a bad form is shown again with a Chinese message and status 422, nothing written."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.catalog import service as catalog_service
from app.db import SessionDep
from app.errors import AppError
from app.kit.pagination import PageParams, page_count
from app.kit.params import IdPath, parse_id, parse_int
from app.kit.time import SHOP_TZ
from app.storefront import messages
from app.storefront.dependencies import StaffPageUser, require_staff_page_user
from app.storefront.forms import errors_by_field, page_number
from app.storefront.templating import render
from app.traceability import labels
from app.traceability import repository as trace_repository
from app.traceability import service as trace_service
from app.traceability.models import EventType
from app.traceability.pages import CERTIFICATE_LABELS, EVENT_LABELS
from app.traceability.schemas import (
    MAX_RUN_CODES,
    BatchCreate,
    CertificateCreate,
    EventCreate,
    PlotCreate,
    ProducerCreate,
)

router = APIRouter(
    prefix="/admin", tags=["pages"], include_in_schema=False, dependencies=[Depends(require_staff_page_user)]
)

FormStr = Annotated[str, Form()]
BATCHES_PER_PAGE = 20
PRODUCERS_PER_PAGE = 20
MAX_CHOICES = 200  # products / batches offered in a form's select
MAX_LABELS_PER_SHEET = 1000
NOTICES = {"event": "已记录生产事件", "run": "已开始生成溯源码", "created": "批次已创建"}
PRODUCER_NOTICES = {"producer": "生产者已创建", "plot": "地块已保存"}
CERTIFICATE_NOTICES = {"created": "证书已记录"}
ERRORS = {"event": "请选择事件类型并填写发生时间。", "count": f"数量请填写 1–{MAX_RUN_CODES} 的整数。"}


PRODUCER_FIELDS = ("name", "region", "license_no", "contact_name", "contact_phone", "address", "description")
PLOT_FIELDS = ("name", "village", "area_mu", "latitude", "longitude")
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
CERTIFICATE_FIELDS = (
    "kind",
    "number",
    "issuer",
    "valid_from",
    "valid_until",
    "producer_id",
    "batch_id",
    "product_id",
)

FIELD_LABELS = {
    "name": "名称",
    "region": "产区",
    "license_no": "地理标志授权编号",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
    "address": "地址",
    "description": "简介",
    "village": "所在村",
    "area_mu": "面积（亩）",
    "latitude": "纬度",
    "longitude": "经度",
    "product_id": "商品",
    "producer_id": "生产者",
    "batch_id": "批次",
    "plot": "地块",
    "batch_no": "批次号",
    "variety": "品种",
    "planted_on": "种植日期",
    "harvested_on": "收割日期",
    "milled_on": "加工日期",
    "packed_on": "包装日期",
    "best_before_on": "保质期至",
    "quantity_kg": "数量（公斤）",
    "notes": "备注",
    "kind": "证书类型",
    "number": "证书编号",
    "issuer": "颁发机构",
    "valid_from": "生效日期",
    "valid_until": "到期日期",
}
FIELD_HINTS = {
    "batch_no": "批次号只能包含字母、数字和连字符（-），最长 32 位，以字母或数字开头。",
    "quantity_kg": "数量请填写大于 0 的公斤数，最多 3 位小数。",
    "area_mu": "面积请填写不小于 0 的亩数，最多 2 位小数。",
    "latitude": "纬度请填写 -90 到 90 之间的数，最多 6 位小数。",
    "longitude": "经度请填写 -180 到 180 之间的数，最多 6 位小数。",
}
CHOICE_FIELDS = frozenset({"product_id", "producer_id", "batch_id", "kind"})
BATCH_DATE_ORDER = "日期顺序不对：种植、收割、加工、包装依次不能早于前一项，保质期不能早于最后一个日期。"
CERTIFICATE_OWNER = "请在生产者、批次、商品中选择且只选择一个，作为证书的所属对象。"
CERTIFICATE_ORDER = "到期日期不能早于生效日期。"


def _form_errors(exc: ValidationError, whole: str, labels: dict[str, str] | None = None) -> dict[str, str]:
    """Chinese messages per form field; `whole` is the message of a model-level (cross-field) error,
    `labels` names fields differently from FIELD_LABELS for this form."""
    return errors_by_field(
        exc,
        labels={**FIELD_LABELS, **(labels or {})},
        hints=FIELD_HINTS,
        choices=CHOICE_FIELDS,
        whole=whole,
        stop="。",
    )


async def _refusal(session: SessionDep, exc: AppError) -> dict[str, str]:
    """The form's message for a service error a form can cause, after rolling the unit of work back (the form
    is shown again and nothing is written); any other error goes on up."""
    known = messages.FIELD_MESSAGES.get(exc.code)
    if known is None:
        raise exc
    await session.rollback()
    return {known[0]: known[1]}


def _form_state(
    request: Request, notices: dict[str, str], values: dict[str, str] | None, errors: dict[str, str] | None
) -> dict[str, Any]:
    """What a page with a create form shows: the typed values and errors, or the notice of ?done=."""
    flash = None if errors else notices.get(request.query_params.get("done", ""))
    return {"values": values or {}, "errors": errors or {}, "flash": flash}


async def _form_values(request: Request, fields: tuple[str, ...]) -> dict[str, str]:
    form = await request.form()
    return {k: str(form.get(k, "")).strip() for k in fields}


def _id(text: str) -> int | str | None:
    """A select's id: empty -> None, digits -> int; anything else stays text and fails the schema's strict id."""
    if not text:
        return None
    number = parse_id(text)
    return text if number is None else number


def _optional(text: str) -> str | None:
    return text or None


def _given(payload: dict[str, Any]) -> dict[str, Any]:
    """The fields that were filled in: an empty required field is then reported as missing."""
    return {k: v for k, v in payload.items() if v is not None}


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


async def _batch_form_choices(session: SessionDep) -> dict[str, Any]:
    """What the new-batch form offers: products, producers and their plots."""
    products = await catalog_service.admin_product_list(
        session, PageParams(page=1, size=MAX_CHOICES), q=None, status=None, category_id=None, sort=None
    )
    producers, _total = await trace_service.list_producers_with_plots(session, offset=0, limit=MAX_CHOICES)
    return {"products": products.items, "producers": producers}


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
        {"section": "trace", "values": values, "errors": errors, **await _batch_form_choices(session)},
        status_code=status_code,
        csp=True,
    )


@router.get("/batches/new", summary="Back office: new batch form")
async def new_batch_page(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    values = {"producer_id": request.query_params.get("producer", "")}
    return await _render_batch_form(request, session, values, {})


@router.post("/batches", summary="Back office: create a batch")
async def create_batch(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    values = await _form_values(request, BATCH_FIELDS)
    errors: dict[str, str] = {}
    plot: int | str | None = _id(values["plot_id"])
    if plot is not None and values["plot_name"]:
        errors["plot"] = "请选择已有地块，或填写新地块名称，二选一。"
    elif plot is None:
        plot = _optional(values["plot_name"])
    payload: dict[str, Any] = {
        "product_id": _id(values["product_id"]),
        "producer_id": _id(values["producer_id"]),
        "plot": plot,
        "batch_no": _optional(values["batch_no"]),
        "variety": values["variety"],
        **{name: _optional(values[name]) for name in BATCH_DATES},
        "quantity_kg": _optional(values["quantity_kg"]),
        "notes": values["notes"],
    }
    try:
        data = BatchCreate.model_validate(_given(payload))
    except ValidationError as exc:
        errors = {**_form_errors(exc, BATCH_DATE_ORDER), **errors}
    if errors:
        return await _render_batch_form(request, session, values, errors, 422)
    try:
        batch = await trace_service.create_batch(session, data)
    except AppError as exc:
        return await _render_batch_form(request, session, values, await _refusal(session, exc), 422)
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
        candidate = await trace_service.get_code_run(session, run_id)
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
    run = await trace_service.start_code_run(session, batch_id, n, requested_by=staff.id)
    return RedirectResponse(f"/admin/batches/{batch_id}?done=run&run={run.id}", status_code=303)


@router.get("/batches/{batch_id}/labels.pdf", summary="Back office: label sheet of a batch's codes")
async def label_sheet(
    request: Request, batch_id: IdPath, session: SessionDep, staff: StaffPageUser
) -> Response:
    run_id = parse_id(request.query_params.get("run"))
    sheet = await labels.batch_label_sheet(session, batch_id, run_id=run_id, limit=MAX_LABELS_PER_SHEET)
    return Response(
        sheet.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{sheet.filename}"'},
    )


# Producers and plots


async def _render_producers(
    request: Request,
    session: SessionDep,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    page_no = page_number(request.query_params.get("page"))
    rows, total = await trace_service.list_producers_with_plots(
        session, offset=(page_no - 1) * PRODUCERS_PER_PAGE, limit=PRODUCERS_PER_PAGE
    )
    return render(
        request,
        "admin/producers.html",
        {
            "section": "producers",
            "producers": rows,
            "total": total,
            "page": page_no,
            "pages": page_count(total, PRODUCERS_PER_PAGE),
            **_form_state(request, PRODUCER_NOTICES, values, errors),
        },
        status_code=status_code,
        csp=True,
    )


@router.get("/producers", summary="Back office: producers")
async def producers(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    return await _render_producers(request, session)


@router.post("/producers", summary="Back office: create a producer")
async def create_producer(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    values = await _form_values(request, PRODUCER_FIELDS)
    try:
        data = ProducerCreate.model_validate(values)
    except ValidationError as exc:
        return await _render_producers(request, session, values, _form_errors(exc, "填写有误。"), 422)
    try:
        producer = await trace_service.create_producer(session, data)
    except AppError as exc:
        return await _render_producers(request, session, values, await _refusal(session, exc), 422)
    return RedirectResponse(f"/admin/producers/{producer.id}?done=producer", status_code=303)


async def _render_producer(
    request: Request,
    session: SessionDep,
    producer_id: int,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    producer = await trace_service.get_producer_or_raise(session, producer_id)
    plots = await trace_service.list_plots(session, producer_id)
    return render(
        request,
        "admin/producer_detail.html",
        {
            "section": "producers",
            "producer": producer,
            "plots": plots,
            **_form_state(request, PRODUCER_NOTICES, values, errors),
        },
        status_code=status_code,
        csp=True,
    )


@router.get("/producers/{producer_id}", summary="Back office: one producer and its plots")
async def producer_detail(
    request: Request, producer_id: IdPath, session: SessionDep, staff: StaffPageUser
) -> Response:
    return await _render_producer(request, session, producer_id)


@router.post("/producers/{producer_id}/plots", summary="Back office: add a plot to a producer")
async def create_plot(
    request: Request, producer_id: IdPath, session: SessionDep, staff: StaffPageUser
) -> Response:
    values = await _form_values(request, PLOT_FIELDS)
    payload: dict[str, Any] = {k: values[k] for k in ("name", "village")}
    payload.update({k: _optional(values[k]) for k in ("area_mu", "latitude", "longitude")})
    try:
        data = PlotCreate.model_validate(_given(payload))
    except ValidationError as exc:
        errors = _form_errors(exc, "填写有误。", {"name": "地块名称"})
        return await _render_producer(request, session, producer_id, values, errors, 422)
    await trace_service.create_plot(session, producer_id, data)  # an unknown producer is a 404 page
    return RedirectResponse(f"/admin/producers/{producer_id}?done=plot", status_code=303)


async def _render_certificates(
    request: Request,
    session: SessionDep,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    rows, total = await trace_repository.list_certificates(
        session, producer_id=None, batch_id=None, product_id=None, offset=0, limit=200
    )
    items = sorted((trace_service.certificate_read(c) for c in rows), key=lambda c: c.valid_until)
    batches, _total = await trace_service.list_batches(session, product_id=None, offset=0, limit=MAX_CHOICES)
    return render(
        request,
        "admin/certificates.html",
        {
            "section": "trace",
            "certificates": items,
            "total": total,
            "kinds": list(CERTIFICATE_LABELS.items()),
            "batches": batches,
            **_form_state(request, CERTIFICATE_NOTICES, values, errors),
            **await _batch_form_choices(session),
        },
        status_code=status_code,
        csp=True,
    )


@router.get("/certificates", summary="Back office: certificates")
async def certificates(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    return await _render_certificates(request, session)


@router.post("/certificates", summary="Back office: record a certificate")
async def create_certificate(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    values = await _form_values(request, CERTIFICATE_FIELDS)
    payload: dict[str, Any] = {k: values[k] for k in ("kind", "number", "issuer")}
    payload.update({k: _optional(values[k]) for k in ("valid_from", "valid_until")})
    payload.update({k: _id(values[k]) for k in ("producer_id", "batch_id", "product_id")})
    try:
        data = CertificateCreate.model_validate(_given(payload))
    except ValidationError as exc:
        owners = [k for k in ("producer_id", "batch_id", "product_id") if payload[k] is not None]
        errors = _form_errors(exc, CERTIFICATE_OWNER if len(owners) != 1 else CERTIFICATE_ORDER)
        return await _render_certificates(request, session, values, errors, 422)
    try:
        await trace_service.create_certificate(session, data)
    except AppError as exc:
        return await _render_certificates(request, session, values, await _refusal(session, exc), 422)
    return RedirectResponse("/admin/certificates?done=created", status_code=303)
