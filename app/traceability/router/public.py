"""The public verification routes (and a code's scan history for staff)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from app.db import SessionDep
from app.kit.openapi import problem_responses
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath
from app.traceability import certificates, files, service, verification
from app.traceability.errors import CertificateNotFound, EventNotFound, TooManyUnknownCodes, UnknownCode
from app.traceability.router.common import (
    CERTIFICATE_FILE_RESPONSE,
    PUBLIC,
    STAFF,
    file_response,
    staff_errors,
)
from app.traceability.schemas import TraceResult, TraceScanRead
from app.users.dependencies import ClientIP, StaffUser

router = APIRouter()


@router.get(
    "/api/trace/{code}",
    response_model=TraceResult,
    tags=PUBLIC,
    summary="Verify a trace code (counts one scan): verdict, scanners, product, batch story, certificates",
    responses=problem_responses(UnknownCode, TooManyUnknownCodes, validation=False),
    operation_id="verifyTraceCode",
)
async def verify(code: str, ip: ClientIP, user_agent: Annotated[str, Header()] = "") -> Response:
    # The same function answers on the fast path (app.traceability.fast_scan): the same bytes.
    outcome = await verification.scan(code, client_ip=ip, user_agent=user_agent)
    return Response(outcome.json(), media_type="application/json")


@router.get(
    "/api/admin/trace-codes/{code}/scans",
    response_model=Page[TraceScanRead],
    tags=STAFF,
    summary="A code's raw scan history, newest first: time, client network, User-Agent, scanner",
    responses=staff_errors(UnknownCode),
)
async def scan_history(
    code: str, _staff: StaffUser, session: SessionDep, page: PageParamsDep
) -> Page[TraceScanRead]:
    items, total = await verification.scan_history(session, code, offset=page.offset, limit=page.size)
    return Page(
        items=[TraceScanRead.model_validate(s) for s in items], total=total, page=page.page, size=page.size
    )


@router.get(
    "/api/trace/event-photos/{event_uuid}",
    tags=PUBLIC,
    summary="A batch event's photo (re-encoded JPEG, no EXIF)",
    response_class=Response,
    responses={
        **problem_responses(EventNotFound, validation=False),
        200: {
            "description": "JPEG",
            "content": {files.JPEG: {"schema": {"type": "string", "format": "binary"}}},
        },
    },
)
async def event_photo(event_uuid: str, session: SessionDep) -> Response:
    data = await service.event_photo(session, event_uuid[:36])
    return Response(
        data, media_type=files.JPEG, headers={**files.FILE_HEADERS, "Cache-Control": "public, max-age=86400"}
    )


@router.get(
    "/api/trace/certificates/{certificate_id}/file",
    tags=PUBLIC,
    summary="The scan of a certificate shown on a published product's page or trace page",
    response_class=Response,
    responses={**problem_responses(CertificateNotFound), **CERTIFICATE_FILE_RESPONSE},
)
async def public_certificate_file(certificate_id: IdPath, session: SessionDep) -> Response:
    return file_response(
        await certificates.public_certificate_file(session, certificate_id), "public, max-age=300"
    )
