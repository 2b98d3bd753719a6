"""Back office: producers (cooperatives, farms) and their plots. The forms are checked with the API's own
schemas (ProducerCreate, PlotCreate); a bad form is shown again with a Chinese message and status 422."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.db import SessionDep, refusable
from app.errors import AppError
from app.kit.pagination import page_count
from app.kit.params import IdPath
from app.storefront.dependencies import StaffPageUser, staff_pages_router
from app.storefront.forms import page_number
from app.storefront.templating import render
from app.storefront.trace_forms import (
    form_errors,
    form_state,
    form_values,
    given,
    optional,
    refusal,
)
from app.traceability import service as trace_service
from app.traceability.schemas import PlotCreate, ProducerCreate

router = staff_pages_router()

PRODUCERS_PER_PAGE = 20
PRODUCER_NOTICES = {"producer": "生产者已创建", "plot": "地块已保存"}
PRODUCER_FIELDS = ("name", "region", "license_no", "contact_name", "contact_phone", "address", "description")
PLOT_FIELDS = ("name", "village", "area_mu", "latitude", "longitude")


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
            **form_state(request, PRODUCER_NOTICES, values, errors),
        },
        status_code=status_code,
        csp=True,
    )


@router.get("/producers", summary="Back office: producers")
async def producers(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    return await _render_producers(request, session)


@router.post("/producers", summary="Back office: create a producer")
async def create_producer(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    values = await form_values(request, PRODUCER_FIELDS)
    try:
        data = ProducerCreate.model_validate(values)
    except ValidationError as exc:
        return await _render_producers(request, session, values, form_errors(exc, "填写有误。"), 422)
    try:
        async with refusable(session):
            producer = await trace_service.create_producer(session, data)
    except AppError as exc:
        return await _render_producers(request, session, values, refusal(exc), 422)
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
            **form_state(request, PRODUCER_NOTICES, values, errors),
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
    values = await form_values(request, PLOT_FIELDS)
    payload: dict[str, Any] = {k: values[k] for k in ("name", "village")}
    payload.update({k: optional(values[k]) for k in ("area_mu", "latitude", "longitude")})
    try:
        data = PlotCreate.model_validate(given(payload))
    except ValidationError as exc:
        errors = form_errors(exc, "填写有误。", {"name": "地块名称"})
        return await _render_producer(request, session, producer_id, values, errors, 422)
    await trace_service.create_plot(session, producer_id, data)  # an unknown producer is a 404 page
    return RedirectResponse(f"/admin/producers/{producer_id}?done=plot", status_code=303)
