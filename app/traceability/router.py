from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Header, Query, Response, UploadFile, status
from fastapi.responses import JSONResponse

from app.catalog.errors import ImageTooLarge, InvalidImage
from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import DigitsOnly, IdPath, IdQuery
from app.traceability import codes as codebook
from app.traceability import files, labels, service
from app.traceability.errors import (
    BatchNoTaken,
    BatchNotFound,
    CertificateNotFound,
    CodeRunNotFound,
    EventNotFound,
    PlotNotFound,
    PlotOfAnotherProducer,
    ProducerNameTaken,
    ProducerNotFound,
    ProductNotFound,
    TooManyUnknownCodes,
    UnknownCode,
    UnsupportedFile,
)
from app.traceability.schemas import (
    BatchCreate,
    BatchOrderRead,
    BatchRead,
    CertificateCreate,
    CertificateRead,
    CodeRevoke,
    CodeRunCreate,
    CodeRunRead,
    CodesCreate,
    CodesIssued,
    CodesRevoked,
    EventCreate,
    EventRead,
    FlaggedProduct,
    PlotCreate,
    PlotRead,
    ProducerCreate,
    ProducerRead,
    TraceCodeRead,
    TraceResult,
    TraceScanRead,
)
from app.users.dependencies import ClientIP, StaffUser

router = APIRouter()
STAFF = ["traceability"]
PUBLIC = ["trace"]
AUTH_ERRORS = (NotAuthenticated, Forbidden)
MAX_LABELS = 5000


def _staff_errors(*errors: Any, validation: bool = True) -> dict:
    return problem_responses(*AUTH_ERRORS, *errors, validation=validation)


# Producers and plots


@router.post(
    "/api/admin/producers",
    status_code=status.HTTP_201_CREATED,
    response_model=ProducerRead,
    tags=STAFF,
    summary="Register a producer (cooperative or farm) with its GI authorisation number",
    responses=_staff_errors(ProducerNameTaken),
)
async def create_producer(data: ProducerCreate, _staff: StaffUser, session: SessionDep) -> ProducerRead:
    return ProducerRead.model_validate(await service.create_producer(session, data))


@router.get(
    "/api/admin/producers",
    response_model=Page[ProducerRead],
    tags=STAFF,
    summary="List producers",
    responses=_staff_errors(),
)
async def list_producers(_staff: StaffUser, session: SessionDep, page: PageParamsDep) -> Page[ProducerRead]:
    from app.traceability import repository

    items, total = await repository.list_producers(session, page.offset, page.size)
    return Page(
        items=[ProducerRead.model_validate(p) for p in items], total=total, page=page.page, size=page.size
    )


@router.get(
    "/api/admin/producers/{producer_id}",
    response_model=ProducerRead,
    tags=STAFF,
    summary="One producer",
    responses=_staff_errors(ProducerNotFound),
)
async def get_producer(producer_id: IdPath, _staff: StaffUser, session: SessionDep) -> ProducerRead:
    return ProducerRead.model_validate(await service.get_producer_or_raise(session, producer_id))


@router.post(
    "/api/admin/producers/{producer_id}/plots",
    status_code=status.HTTP_201_CREATED,
    response_model=PlotRead,
    tags=STAFF,
    summary="Add a plot to a producer (or update the plot of that name)",
    responses=_staff_errors(ProducerNotFound),
)
async def create_plot(
    producer_id: IdPath, data: PlotCreate, _staff: StaffUser, session: SessionDep
) -> PlotRead:
    return PlotRead.model_validate(await service.create_plot(session, producer_id, data))


@router.get(
    "/api/admin/producers/{producer_id}/plots",
    response_model=list[PlotRead],
    tags=STAFF,
    summary="A producer's plots",
    responses=_staff_errors(ProducerNotFound),
)
async def list_plots(producer_id: IdPath, _staff: StaffUser, session: SessionDep) -> list[PlotRead]:
    return await service.list_plots(session, producer_id)


# Batches and events


@router.post(
    "/api/admin/batches",
    status_code=status.HTTP_201_CREATED,
    response_model=BatchRead,
    tags=STAFF,
    summary="Record a batch: product, producer, plot (id, or a name found or created), dates, quantity",
    responses=_staff_errors(
        ProductNotFound, ProducerNotFound, PlotNotFound, BatchNoTaken, PlotOfAnotherProducer
    ),
)
async def create_batch(data: BatchCreate, _staff: StaffUser, session: SessionDep) -> BatchRead:
    return await service.create_batch(session, data)


@router.get(
    "/api/admin/batches",
    response_model=Page[BatchRead],
    tags=STAFF,
    summary="List batches, newest first",
    responses=_staff_errors(),
)
async def list_batches(
    _staff: StaffUser,
    session: SessionDep,
    page: PageParamsDep,
    product_id: IdQuery = None,
) -> Page[BatchRead]:
    items, total = await service.list_batches(
        session, product_id=product_id, offset=page.offset, limit=page.size
    )
    return Page(items=items, total=total, page=page.page, size=page.size)


@router.get(
    "/api/admin/batches/{batch_id}",
    response_model=BatchRead,
    tags=STAFF,
    summary="One batch",
    responses=_staff_errors(BatchNotFound),
)
async def get_batch(batch_id: IdPath, _staff: StaffUser, session: SessionDep) -> BatchRead:
    return await service.get_batch_read(session, batch_id)


@router.post(
    "/api/admin/batches/{batch_id}/events",
    status_code=status.HTTP_201_CREATED,
    response_model=EventRead,
    tags=STAFF,
    summary="Record what happened to a batch, when (with time zone), where and why",
    responses=_staff_errors(BatchNotFound),
)
async def record_event(
    batch_id: IdPath, data: EventCreate, staff: StaffUser, session: SessionDep
) -> EventRead:
    return await service.record_event(session, batch_id, data, recorded_by=staff.id)


@router.get(
    "/api/admin/batches/{batch_id}/events",
    response_model=list[EventRead],
    tags=STAFF,
    summary="A batch's events in time order",
    responses=_staff_errors(BatchNotFound),
)
async def list_events(batch_id: IdPath, _staff: StaffUser, session: SessionDep) -> list[EventRead]:
    return await service.list_events(session, batch_id)


@router.put(
    "/api/admin/batches/{batch_id}/events/{event_id}/photo",
    response_model=EventRead,
    tags=STAFF,
    summary="Attach a photo (PNG, JPEG or WebP, sniffed from its bytes; re-encoded, EXIF dropped) to an event",
    responses=_staff_errors(EventNotFound, UnsupportedFile, InvalidImage, ImageTooLarge),
)
async def attach_event_photo(
    batch_id: IdPath,
    event_id: IdPath,
    file: Annotated[UploadFile, File()],
    _staff: StaffUser,
    session: SessionDep,
) -> EventRead:
    return await service.attach_event_photo(session, batch_id, event_id, await file.read())


@router.get(
    "/api/admin/batches/{batch_id}/epcis",
    tags=STAFF,
    summary="The batch's events as a GS1 EPCIS 2.0 JSON-LD document",
    responses={
        **_staff_errors(BatchNotFound, validation=False),
        200: {"content": {"application/ld+json": {}}, "description": "EPCISDocument"},
    },
)
async def export_epcis(batch_id: IdPath, _staff: StaffUser, session: SessionDep) -> JSONResponse:
    document = await service.epcis_document(session, batch_id)
    return JSONResponse(document, media_type="application/ld+json")


# Certificates


@router.post(
    "/api/admin/certificates",
    status_code=status.HTTP_201_CREATED,
    response_model=CertificateRead,
    tags=STAFF,
    summary="Record a certificate of exactly one producer, batch or product",
    responses=_staff_errors(ProducerNotFound, BatchNotFound, ProductNotFound),
)
async def create_certificate(
    data: CertificateCreate, _staff: StaffUser, session: SessionDep
) -> CertificateRead:
    return await service.create_certificate(session, data)


@router.get(
    "/api/admin/certificates",
    response_model=Page[CertificateRead],
    tags=STAFF,
    summary="List certificates (expired ones say so)",
    responses=_staff_errors(),
)
async def list_certificates(
    _staff: StaffUser,
    session: SessionDep,
    page: PageParamsDep,
    producer_id: IdQuery = None,
    batch_id: IdQuery = None,
    product_id: IdQuery = None,
) -> Page[CertificateRead]:
    from app.traceability import repository

    items, total = await repository.list_certificates(
        session,
        producer_id=producer_id,
        batch_id=batch_id,
        product_id=product_id,
        offset=page.offset,
        limit=page.size,
    )
    return Page(
        items=[service.certificate_read(c) for c in items], total=total, page=page.page, size=page.size
    )


@router.get(
    "/api/admin/certificates/{certificate_id}",
    response_model=CertificateRead,
    tags=STAFF,
    summary="One certificate",
    responses=_staff_errors(CertificateNotFound),
)
async def get_certificate(certificate_id: IdPath, _staff: StaffUser, session: SessionDep) -> CertificateRead:
    return service.certificate_read(await service.get_certificate_or_raise(session, certificate_id))


@router.put(
    "/api/admin/certificates/{certificate_id}/file",
    response_model=CertificateRead,
    tags=STAFF,
    summary="Upload the certificate's scan (PDF, or PNG, JPEG or WebP re-encoded; sniffed from its bytes)",
    responses=_staff_errors(CertificateNotFound, UnsupportedFile, InvalidImage, ImageTooLarge),
)
async def upload_certificate_file(
    certificate_id: IdPath,
    file: Annotated[UploadFile, File()],
    _staff: StaffUser,
    session: SessionDep,
) -> CertificateRead:
    return await service.attach_certificate_file(session, certificate_id, await file.read())


CERTIFICATE_FILE_RESPONSE = {
    200: {
        "description": "The scan as an attachment: a PDF, or a JPEG (images are re-encoded when uploaded)",
        "content": {
            files.PDF: {"schema": {"type": "string", "format": "binary"}},
            files.JPEG: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _file_response(found: service.CertificateFile, cache_control: str) -> Response:
    return Response(
        found.data,
        media_type=found.content_type,
        headers={
            **files.FILE_HEADERS,
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "Cache-Control": cache_control,
        },
    )


@router.get(
    "/api/admin/certificates/{certificate_id}/file",
    tags=STAFF,
    summary="Download the certificate's scan (any certificate)",
    response_class=Response,
    responses={**_staff_errors(CertificateNotFound), **CERTIFICATE_FILE_RESPONSE},
)
async def download_certificate_file(
    certificate_id: IdPath, _staff: StaffUser, session: SessionDep
) -> Response:
    return _file_response(await service.certificate_file(session, certificate_id), "private, no-store")


@router.get(
    "/api/admin/traceability/flagged-products",
    response_model=list[FlaggedProduct],
    tags=STAFF,
    summary="Products whose geographical-indication certificates have all expired",
    responses=_staff_errors(validation=False),
)
async def flagged_products(_staff: StaffUser, session: SessionDep) -> list[FlaggedProduct]:
    return await service.flagged_products(session)


# Trace codes


@router.post(
    "/api/admin/batches/{batch_id}/codes",
    status_code=status.HTTP_201_CREATED,
    response_model=CodesIssued,
    tags=STAFF,
    summary="Issue up to 1,000 trace codes for a batch (more: POST .../code-runs)",
    responses=_staff_errors(BatchNotFound),
)
async def create_codes(
    batch_id: IdPath, data: CodesCreate, _staff: StaffUser, session: SessionDep
) -> CodesIssued:
    codes = await service.create_codes(session, batch_id, data.count)
    return CodesIssued(batch_id=batch_id, count=len(codes), codes=codes)


@router.get(
    "/api/admin/batches/{batch_id}/codes",
    response_model=Page[TraceCodeRead],
    tags=STAFF,
    summary="A batch's trace codes with their scan counts",
    responses=_staff_errors(BatchNotFound),
)
async def list_codes(
    batch_id: IdPath,
    _staff: StaffUser,
    session: SessionDep,
    page: PageParamsDep,
    run_id: IdQuery = None,
) -> Page[TraceCodeRead]:
    items, total = await service.list_codes(
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
        **_staff_errors(BatchNotFound),
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
    sheet = await labels.batch_label_sheet(session, batch_id, run_id=run_id, limit=limit)
    return Response(
        sheet.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{sheet.filename}"'},
    )


@router.get(
    "/api/admin/batches/{batch_id}/codes.csv",
    tags=STAFF,
    summary="A batch's trace codes as CSV (code, printed form, URL, batch, status)",
    responses={
        **_staff_errors(BatchNotFound),
        200: {"content": {"text/csv": {}}, "description": "CSV"},
    },
)
async def codes_csv(
    batch_id: IdPath,
    _staff: StaffUser,
    session: SessionDep,
    run_id: IdQuery = None,
) -> Response:
    batch = await service.get_batch_or_raise(session, batch_id)
    rows, _ = await service.list_codes(session, batch_id, run_id=run_id, offset=0, limit=None)
    text = labels.codes_csv(
        (
            c.code,
            codebook.pretty(c.code),
            service.trace_url(c.code),
            batch.batch_no,
            "revoked" if c.revoked_at else "active",
        )
        for c in rows
    )
    return Response(
        text.encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="codes-{batch.batch_no}.csv"'},
    )


@router.post(
    "/api/admin/batches/{batch_id}/code-runs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CodeRunRead,
    tags=STAFF,
    summary="Issue up to 100,000 codes in the background; watch GET /api/admin/code-runs/{id}",
    responses=_staff_errors(BatchNotFound),
)
async def start_code_run(
    batch_id: IdPath, data: CodeRunCreate, staff: StaffUser, session: SessionDep
) -> CodeRunRead:
    return await service.start_code_run(session, batch_id, data.count, requested_by=staff.id)


@router.get(
    "/api/admin/code-runs/{run_id}",
    response_model=CodeRunRead,
    tags=STAFF,
    summary="Progress of a background code run",
    responses=_staff_errors(CodeRunNotFound, validation=False),
)
async def get_code_run(run_id: IdPath, _staff: StaffUser, session: SessionDep) -> CodeRunRead:
    return await service.get_code_run(session, run_id)


@router.post(
    "/api/admin/trace-codes/revoke",
    response_model=CodesRevoked,
    tags=STAFF,
    summary="Revoke codes (a scan then answers suspicious, reason revoked)",
    responses=_staff_errors(),
)
async def revoke_codes(data: CodeRevoke, _staff: StaffUser, session: SessionDep) -> CodesRevoked:
    revoked, unknown = await service.revoke_codes(session, data.codes, data.reason)
    return CodesRevoked(revoked=revoked, unknown=unknown)


# Public verification


@router.get(
    "/api/trace/{code}",
    response_model=TraceResult,
    tags=PUBLIC,
    summary="Verify a trace code (counts one scan): verdict, scanners, product, batch story, certificates",
    responses=problem_responses(UnknownCode, TooManyUnknownCodes, validation=False),
)
async def verify(code: str, ip: ClientIP, user_agent: Annotated[str, Header()] = "") -> Response:
    # The same function answers on the fast path (app.traceability.fast_scan): the same bytes.
    outcome = await service.scan(code, client_ip=ip, user_agent=user_agent)
    return Response(outcome.json(), media_type="application/json")


@router.get(
    "/api/admin/trace-codes/{code}/scans",
    response_model=Page[TraceScanRead],
    tags=STAFF,
    summary="A code's raw scan history, newest first: time, client network, User-Agent, scanner",
    responses=_staff_errors(UnknownCode),
)
async def scan_history(
    code: str, _staff: StaffUser, session: SessionDep, page: PageParamsDep
) -> Page[TraceScanRead]:
    items, total = await service.scan_history(session, code, offset=page.offset, limit=page.size)
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
        data,
        media_type=files.JPEG,
        headers={**files.FILE_HEADERS, "Cache-Control": "public, max-age=86400"},
    )


@router.get(
    "/api/trace/certificates/{certificate_id}/file",
    tags=PUBLIC,
    summary="The scan of a certificate shown on a published product's page or trace page",
    response_class=Response,
    responses={**problem_responses(CertificateNotFound), **CERTIFICATE_FILE_RESPONSE},
)
async def public_certificate_file(certificate_id: IdPath, session: SessionDep) -> Response:
    return _file_response(
        await service.public_certificate_file(session, certificate_id), "public, max-age=300"
    )


@router.get(
    "/api/admin/batches/{batch_id}/orders",
    response_model=Page[BatchOrderRead],
    tags=STAFF,
    summary="Recall list: every order that received goods from this batch, with the lines and the recipient",
    responses=_staff_errors(BatchNotFound),
)
async def orders_of_batch(
    batch_id: IdPath, _staff: StaffUser, session: SessionDep, page: PageParamsDep
) -> Page[BatchOrderRead]:
    items, total = await service.orders_of_batch(session, batch_id, offset=page.offset, limit=page.size)
    return Page(items=items, total=total, page=page.page, size=page.size)
