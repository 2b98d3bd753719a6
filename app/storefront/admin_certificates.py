"""Back office: certificates (geographical indication, green food, organic, inspection reports) of a
producer, a batch or a product. The form is checked with the API's own schema (CertificateCreate); a bad form
is shown again with a Chinese message and status 422."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.db import SessionDep, refusable
from app.errors import AppError
from app.storefront.dependencies import StaffPageUser, staff_pages_router
from app.storefront.labels import CERTIFICATE_LABELS
from app.storefront.templating import render
from app.storefront.trace_forms import (
    MAX_CHOICES,
    batch_form_choices,
    form_errors,
    form_state,
    form_values,
    given,
    optional,
    refusal,
    select_id,
)
from app.traceability import certificates as trace_certificates
from app.traceability import service as trace_service
from app.traceability.schemas import CertificateCreate

router = staff_pages_router()

CERTIFICATE_NOTICES = {"created": "证书已记录"}
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
CERTIFICATE_OWNER = "请在生产者、批次、商品中选择且只选择一个，作为证书的所属对象。"
CERTIFICATE_ORDER = "到期日期不能早于生效日期。"


async def _render_certificates(
    request: Request,
    session: SessionDep,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    rows, total = await trace_certificates.list_certificates(
        session, producer_id=None, batch_id=None, product_id=None, offset=0, limit=200
    )
    items = sorted(rows, key=lambda c: c.valid_until)
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
            **form_state(request, CERTIFICATE_NOTICES, values, errors),
            **await batch_form_choices(session),
        },
        status_code=status_code,
        csp=True,
    )


@router.get("/certificates", summary="Back office: certificates")
async def certificates(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    return await _render_certificates(request, session)


@router.post("/certificates", summary="Back office: record a certificate")
async def create_certificate(request: Request, session: SessionDep, staff: StaffPageUser) -> Response:
    values = await form_values(request, CERTIFICATE_FIELDS)
    payload: dict[str, Any] = {k: values[k] for k in ("kind", "number", "issuer")}
    payload.update({k: optional(values[k]) for k in ("valid_from", "valid_until")})
    payload.update({k: select_id(values[k]) for k in ("producer_id", "batch_id", "product_id")})
    try:
        data = CertificateCreate.model_validate(given(payload))
    except ValidationError as exc:
        owners = [k for k in ("producer_id", "batch_id", "product_id") if payload[k] is not None]
        errors = form_errors(exc, CERTIFICATE_OWNER if len(owners) != 1 else CERTIFICATE_ORDER)
        return await _render_certificates(request, session, values, errors, 422)
    try:
        async with refusable(session):
            await trace_certificates.create_certificate(session, data)
    except AppError as exc:
        return await _render_certificates(request, session, values, refusal(exc), 422)
    return RedirectResponse("/admin/certificates?done=created", status_code=303)
