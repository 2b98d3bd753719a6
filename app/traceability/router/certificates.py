"""Staff routes for certificates, their files, and products whose GI certificates expired."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile, status

from app.catalog.errors import ImageTooLarge, InvalidImage
from app.db import SessionDep
from app.errors import StorageUnavailable
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath, IdQuery
from app.traceability import certificates
from app.traceability.errors import (
    BatchNotFound,
    CertificateNotFound,
    ProducerNotFound,
    ProductNotFound,
    UnsupportedFile,
)
from app.traceability.router.common import CERTIFICATE_FILE_RESPONSE, STAFF, file_response, staff_errors
from app.traceability.schemas import CertificateCreate, CertificateRead, FlaggedProduct
from app.users.dependencies import StaffUser

router = APIRouter()


@router.post(
    "/api/admin/certificates",
    status_code=status.HTTP_201_CREATED,
    response_model=CertificateRead,
    tags=STAFF,
    summary="Record a certificate of exactly one producer, batch or product",
    responses=staff_errors(ProducerNotFound, BatchNotFound, ProductNotFound),
)
async def create_certificate(
    data: CertificateCreate, _staff: StaffUser, session: SessionDep
) -> CertificateRead:
    return await certificates.create_certificate(session, data)


@router.get(
    "/api/admin/certificates",
    response_model=Page[CertificateRead],
    tags=STAFF,
    summary="List certificates (expired ones say so)",
    responses=staff_errors(),
)
async def list_certificates(
    _staff: StaffUser,
    session: SessionDep,
    page: PageParamsDep,
    producer_id: IdQuery = None,
    batch_id: IdQuery = None,
    product_id: IdQuery = None,
) -> Page[CertificateRead]:
    items, total = await certificates.list_certificates(
        session,
        producer_id=producer_id,
        batch_id=batch_id,
        product_id=product_id,
        offset=page.offset,
        limit=page.size,
    )
    return Page(items=items, total=total, page=page.page, size=page.size)


@router.get(
    "/api/admin/certificates/{certificate_id}",
    response_model=CertificateRead,
    tags=STAFF,
    summary="One certificate",
    responses=staff_errors(CertificateNotFound),
)
async def get_certificate(certificate_id: IdPath, _staff: StaffUser, session: SessionDep) -> CertificateRead:
    return certificates.certificate_read(await certificates.get_certificate_or_raise(session, certificate_id))


@router.put(
    "/api/admin/certificates/{certificate_id}/file",
    response_model=CertificateRead,
    tags=STAFF,
    summary="Upload the certificate's scan (PDF, or PNG, JPEG or WebP re-encoded; sniffed from its bytes)",
    responses=staff_errors(
        CertificateNotFound, UnsupportedFile, InvalidImage, ImageTooLarge, StorageUnavailable
    ),
)
async def upload_certificate_file(
    certificate_id: IdPath, file: Annotated[UploadFile, File()], _staff: StaffUser, session: SessionDep
) -> CertificateRead:
    return await certificates.attach_certificate_file(session, certificate_id, await file.read())


@router.get(
    "/api/admin/certificates/{certificate_id}/file",
    tags=STAFF,
    summary="Download the certificate's scan (any certificate)",
    response_class=Response,
    responses={**staff_errors(CertificateNotFound), **CERTIFICATE_FILE_RESPONSE},
)
async def download_certificate_file(
    certificate_id: IdPath, _staff: StaffUser, session: SessionDep
) -> Response:
    return file_response(await certificates.certificate_file(session, certificate_id), "private, no-store")


@router.get(
    "/api/admin/traceability/flagged-products",
    response_model=list[FlaggedProduct],
    tags=STAFF,
    summary="Products whose geographical-indication certificates have all expired",
    responses=staff_errors(validation=False),
)
async def flagged_products(_staff: StaffUser, session: SessionDep) -> list[FlaggedProduct]:
    return await certificates.flagged_products(session)
