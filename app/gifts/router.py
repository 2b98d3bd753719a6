from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status
from fastapi.responses import Response

from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated, StorageUnavailable
from app.gifts import proofs, service
from app.gifts.errors import (
    CustomRequestNotFound,
    InvalidRecipients,
    InvalidRequestState,
    ProofNotFound,
    QuantityTooSmall,
    QuoteExpired,
    SkuNotFound,
    UnsupportedFile,
)
from app.gifts.models import CustomRequest, RequestStatus
from app.gifts.schemas import (
    CustomRequestCreate,
    CustomRequestRead,
    CustomRequestStaffRead,
    QuoteCreate,
    RecipientRead,
)
from app.kit.openapi import problem_responses
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath
from app.traceability import files as trace_files
from app.users.dependencies import CurrentUser, StaffUser

router = APIRouter()
TAGS = ["custom boxes"]
STAFF_TAGS = ["custom boxes (staff)"]
MAX_LIST_BYTES = 8 * 1024 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _fields(request: CustomRequest) -> dict:
    return {
        **{c.name: getattr(request, c.name) for c in CustomRequest.__table__.columns},
        "total_fen": service.total_fen(request),
        "has_proof": request.proof_path is not None,
    }


def read(request: CustomRequest) -> CustomRequestRead:
    return CustomRequestRead.model_validate(_fields(request))


def staff_read(request: CustomRequest) -> CustomRequestStaffRead:
    return CustomRequestStaffRead.model_validate(_fields(request))


def _proof_response(data: bytes, content_type: str, request_id: int) -> Response:
    ext = trace_files.EXTENSIONS.get(content_type, "bin")
    return Response(
        data,
        media_type=content_type,
        headers={
            **trace_files.FILE_HEADERS,
            "Content-Disposition": f'attachment; filename="proof-{request_id}.{ext}"',
            "Cache-Control": "private, no-store",
        },
    )


async def _proof(request: CustomRequest) -> Response:
    data = await proofs.read(request.proof_path) if request.proof_path else None
    if data is None or request.proof_content_type is None:
        raise ProofNotFound("This request has no proof yet.")
    return _proof_response(data, request.proof_content_type, request.id)


@router.post(
    "/api/custom-requests",
    status_code=status.HTTP_201_CREATED,
    response_model=CustomRequestRead,
    tags=TAGS,
    summary="Request custom gift boxes (at least CUSTOM_MIN_QUANTITY) with the recipients typed in, or "
    "upload them afterwards",
    responses=problem_responses(NotAuthenticated, SkuNotFound, QuantityTooSmall, InvalidRecipients),
)
async def create_request(
    data: CustomRequestCreate, user: CurrentUser, session: SessionDep
) -> CustomRequestRead:
    return read(await service.create(session, user, data))


@router.get(
    "/api/custom-requests",
    response_model=Page[CustomRequestRead],
    tags=TAGS,
    summary="My custom requests, newest first",
    responses=problem_responses(NotAuthenticated),
)
async def list_my_custom_requests(
    user: CurrentUser, session: SessionDep, page: PageParamsDep
) -> Page[CustomRequestRead]:
    rows, total = await service.list_own(session, user, page.offset, page.size)
    return Page(items=[read(r) for r in rows], total=total, page=page.page, size=page.size)


@router.get(
    "/api/custom-requests/{request_id}",
    response_model=CustomRequestRead,
    tags=TAGS,
    summary="One of my custom requests",
    responses=problem_responses(NotAuthenticated, CustomRequestNotFound),
)
async def get_my_custom_request(
    request_id: IdPath, user: CurrentUser, session: SessionDep
) -> CustomRequestRead:
    return read(await service.get_own_or_raise(session, user, request_id))


@router.post(
    "/api/custom-requests/{request_id}/recipients",
    response_model=CustomRequestRead,
    tags=TAGS,
    summary="Upload the recipients as CSV (UTF-8 or GB18030) or XLSX; the first row names the columns "
    "(recipient, phone, province, city, district, detail, quantity, or 收件人, 手机号, 省份, 城市, 区县, 详细地址, "
    "数量). Every bad row is reported by row number; nothing is stored unless every row is valid",
    responses=problem_responses(
        NotAuthenticated, CustomRequestNotFound, InvalidRecipients, UnsupportedFile, InvalidRequestState
    ),
)
async def upload_recipients(
    request_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    file: Annotated[
        UploadFile, File(description="the recipient list (.csv or .xlsx)", examples=["recipients.xlsx"])
    ],
) -> CustomRequestRead:
    data = await file.read(MAX_LIST_BYTES + 1)
    if len(data) > MAX_LIST_BYTES:
        raise UnsupportedFile("The list may be at most 8 MB.")
    return read(await service.upload_recipients(session, user, request_id, data))


@router.post(
    "/api/custom-requests/{request_id}/approve-proof",
    response_model=CustomRequestRead,
    tags=TAGS,
    summary="Approve the artwork proof of my accepted, paid request: production starts (in_production)",
    responses=problem_responses(NotAuthenticated, CustomRequestNotFound, InvalidRequestState),
)
async def approve_proof(request_id: IdPath, user: CurrentUser, session: SessionDep) -> CustomRequestRead:
    return read(await service.approve_proof(session, user, request_id))


@router.get(
    "/api/custom-requests/{request_id}/proof",
    response_class=Response,
    tags=TAGS,
    summary="The artwork proof of my request (PDF, or a JPEG), as an attachment",
    responses=problem_responses(NotAuthenticated, CustomRequestNotFound, ProofNotFound),
)
async def get_my_proof(request_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    return await _proof(await service.get_own_or_raise(session, user, request_id))


# ---------------------------------------------------------------------------------------------- staff


@router.get(
    "/api/admin/custom-requests",
    response_model=Page[CustomRequestStaffRead],
    tags=STAFF_TAGS,
    summary="Every custom request, newest first (optionally of one status)",
    responses=problem_responses(NotAuthenticated, Forbidden),
)
async def list_custom_requests_for_staff(
    staff: StaffUser,
    session: SessionDep,
    page: PageParamsDep,
    status_: Annotated[RequestStatus | None, Query(alias="status")] = None,
) -> Page[CustomRequestStaffRead]:
    rows, total = await service.list_for_staff(session, status_, page.offset, page.size)
    return Page(items=[staff_read(r) for r in rows], total=total, page=page.page, size=page.size)


@router.get(
    "/api/admin/custom-requests/{request_id}",
    response_model=CustomRequestStaffRead,
    tags=STAFF_TAGS,
    summary="One custom request",
    responses=problem_responses(NotAuthenticated, Forbidden, CustomRequestNotFound),
)
async def get_for_staff(request_id: IdPath, staff: StaffUser, session: SessionDep) -> CustomRequestStaffRead:
    return staff_read(await service.get_or_raise(session, request_id))


@router.get(
    "/api/admin/custom-requests/{request_id}/recipients",
    response_model=list[RecipientRead],
    tags=STAFF_TAGS,
    summary="The request's recipients (one parcel each) with what has been shipped",
    responses=problem_responses(NotAuthenticated, Forbidden, CustomRequestNotFound),
)
async def recipients_for_staff(
    request_id: IdPath, staff: StaffUser, session: SessionDep
) -> list[RecipientRead]:
    request = await service.get_or_raise(session, request_id)
    return [RecipientRead.model_validate(r) for r in await service.recipients_of(session, request)]


@router.post(
    "/api/admin/custom-requests/{request_id}/quote",
    response_model=CustomRequestStaffRead,
    tags=STAFF_TAGS,
    summary="Quote a request (unit price, set-up fee, valid until): status quoted",
    responses=problem_responses(
        NotAuthenticated, Forbidden, CustomRequestNotFound, InvalidRequestState, QuoteExpired
    ),
)
async def quote(
    request_id: IdPath, data: QuoteCreate, staff: StaffUser, session: SessionDep
) -> CustomRequestStaffRead:
    return staff_read(await service.quote(session, staff, request_id, data))


@router.post(
    "/api/admin/custom-requests/{request_id}/proof",
    response_model=CustomRequestStaffRead,
    tags=STAFF_TAGS,
    summary="Upload the artwork proof (PDF kept as sent; PNG, JPEG or WebP re-encoded; sniffed from the bytes, "
    "≤ 8 MB): status proof_ready",
    responses=problem_responses(
        NotAuthenticated,
        Forbidden,
        CustomRequestNotFound,
        InvalidRequestState,
        UnsupportedFile,
        StorageUnavailable,
    ),
)
async def upload_proof(
    request_id: IdPath,
    staff: StaffUser,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="the artwork proof", examples=["proof.pdf"])],
) -> CustomRequestStaffRead:
    data = await file.read(proofs.MAX_BYTES + 1)
    return staff_read(await service.upload_proof(session, staff, request_id, data))


@router.get(
    "/api/admin/custom-requests/{request_id}/proof",
    response_class=Response,
    tags=STAFF_TAGS,
    summary="The request's artwork proof, as an attachment",
    responses=problem_responses(NotAuthenticated, Forbidden, CustomRequestNotFound, ProofNotFound),
)
async def get_proof(request_id: IdPath, staff: StaffUser, session: SessionDep) -> Response:
    return await _proof(await service.get_or_raise(session, request_id))


@router.get(
    "/api/admin/custom-requests/{request_id}/shipping-list.xlsx",
    response_class=Response,
    tags=STAFF_TAGS,
    summary="The shipping list for the courier (XLSX): one row per recipient's parcel",
    responses=problem_responses(NotAuthenticated, Forbidden, CustomRequestNotFound),
)
async def shipping_list(request_id: IdPath, staff: StaffUser, session: SessionDep) -> Response:
    request, data = await service.shipping_list(session, request_id)
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="custom-{request.id}-shipping.xlsx"'},
    )
