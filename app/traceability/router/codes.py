"""Staff routes for trace codes: issue, list, labels, CSV, background runs, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.db import SessionDep
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import DigitsOnly, IdPath, IdQuery
from app.traceability import issuing
from app.traceability.errors import BatchNotFound, CodeRunNotFound
from app.traceability.router.common import MAX_LABELS, STAFF, staff_errors
from app.traceability.schemas import (
    CodeRevoke,
    CodeRunCreate,
    CodeRunRead,
    CodesCreate,
    CodesIssued,
    CodesRevoked,
    TraceCodeRead,
)
from app.users.dependencies import StaffUser

router = APIRouter()


@router.post(
    "/api/admin/batches/{batch_id}/codes",
    status_code=status.HTTP_201_CREATED,
    response_model=CodesIssued,
    tags=STAFF,
    summary="Issue up to 1,000 trace codes for a batch (more: POST .../code-runs)",
    responses=staff_errors(BatchNotFound),
)
async def create_codes(
    batch_id: IdPath, data: CodesCreate, _staff: StaffUser, session: SessionDep
) -> CodesIssued:
    codes = await issuing.create_codes(session, batch_id, data.count)
    return CodesIssued(batch_id=batch_id, count=len(codes), codes=codes)


@router.get(
    "/api/admin/batches/{batch_id}/codes",
    response_model=Page[TraceCodeRead],
    tags=STAFF,
    summary="A batch's trace codes with their scan counts",
    responses=staff_errors(BatchNotFound),
)
async def list_codes(
    batch_id: IdPath, _staff: StaffUser, session: SessionDep, page: PageParamsDep, run_id: IdQuery = None
) -> Page[TraceCodeRead]:
    items, total = await issuing.list_codes(
        session, batch_id, run_id=run_id, offset=page.offset, limit=page.size
    )
    return Page(
        items=[TraceCodeRead.model_validate(c) for c in items], total=total, page=page.page, size=page.size
    )


@router.get(
    "/api/admin/batches/{batch_id}/codes/labels.pdf",
    tags=STAFF,
    summary="A4 label sheet: each code's QR (its public trace URL) with the code printed under it",
    responses={
        **staff_errors(BatchNotFound),
        200: {"content": {"application/pdf": {}}, "description": "PDF"},
    },
)
async def code_labels(
    batch_id: IdPath,
    _staff: StaffUser,
    session: SessionDep,
    run_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LABELS), DigitsOnly] = MAX_LABELS,
) -> Response:
    sheet = await issuing.batch_label_sheet(session, batch_id, run_id=run_id, limit=limit)
    return Response(
        sheet.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{sheet.filename}"'},
    )


@router.get(
    "/api/admin/batches/{batch_id}/codes.csv",
    tags=STAFF,
    summary="A batch's trace codes as CSV (code, printed form, URL, batch, status)",
    responses={**staff_errors(BatchNotFound), 200: {"content": {"text/csv": {}}, "description": "CSV"}},
)
async def codes_csv(
    batch_id: IdPath, _staff: StaffUser, session: SessionDep, run_id: IdQuery = None
) -> Response:
    batch_no, body = await issuing.codes_csv(session, batch_id, run_id=run_id)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="codes-{batch_no}.csv"'},
    )


@router.post(
    "/api/admin/batches/{batch_id}/code-runs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CodeRunRead,
    tags=STAFF,
    summary="Issue up to 100,000 codes in the background; watch GET /api/admin/code-runs/{id}",
    responses=staff_errors(BatchNotFound),
)
async def start_code_run(
    batch_id: IdPath, data: CodeRunCreate, staff: StaffUser, session: SessionDep
) -> CodeRunRead:
    return await issuing.start_code_run(session, batch_id, data.count, requested_by=staff.id)


@router.get(
    "/api/admin/code-runs/{run_id}",
    response_model=CodeRunRead,
    tags=STAFF,
    summary="Progress of a background code run",
    responses=staff_errors(CodeRunNotFound, validation=False),
)
async def get_code_run(run_id: IdPath, _staff: StaffUser, session: SessionDep) -> CodeRunRead:
    return await issuing.get_code_run(session, run_id)


@router.post(
    "/api/admin/trace-codes/revoke",
    response_model=CodesRevoked,
    tags=STAFF,
    summary="Revoke codes (a scan then answers suspicious, reason revoked)",
    responses=staff_errors(),
)
async def revoke_codes(data: CodeRevoke, _staff: StaffUser, session: SessionDep) -> CodesRevoked:
    revoked, unknown = await issuing.revoke_codes(session, data.codes, data.reason)
    return CodesRevoked(revoked=revoked, unknown=unknown)
