"""Certificates: records and their files, the expiry warnings, and the sale block for an expired
geographical-indication certificate."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.catalog.cache import invalidate
from app.config import get_settings
from app.db import utcnow
from app.kit import storage
from app.traceability import files, repository
from app.traceability.errors import (
    CertificateNotFound,
    ProductNotFound,
    SaleBlockedExpiredGI,
)
from app.traceability.models import (
    Certificate,
)
from app.traceability.schemas import (
    CertificateCreate,
    CertificateRead,
    FlaggedProduct,
    TraceCertificate,
)
from app.traceability.service import get_batch_or_raise, get_producer_or_raise, today

EXPIRY_WARNING_DAYS = 30


# Certificates


def certificate_status(cert: Certificate, on: date | None = None) -> str:
    on = on or today()
    if cert.valid_until < on:
        return "expired"
    if cert.valid_from > on:
        return "not_yet_valid"
    return "valid"


def certificate_read(cert: Certificate) -> CertificateRead:
    status = certificate_status(cert)
    return CertificateRead(
        id=cert.id,
        kind=cert.kind,
        number=cert.number,
        issuer=cert.issuer,
        valid_from=cert.valid_from,
        valid_until=cert.valid_until,
        producer_id=cert.producer_id,
        batch_id=cert.batch_id,
        product_id=cert.product_id,
        status=status,
        expired=status == "expired",
        has_file=cert.file_path is not None,
        file_content_type=cert.file_content_type,
        created_at=cert.created_at,
    )


def trace_certificate(cert: Certificate, *, file_public: bool) -> TraceCertificate:
    status = certificate_status(cert)
    return TraceCertificate(
        kind=cert.kind,
        number=cert.number,
        issuer=cert.issuer,
        valid_from=cert.valid_from,
        valid_until=cert.valid_until,
        status=status,
        expired=status == "expired",
        file_url=certificate_file_url(cert) if file_public else None,
    )


async def create_certificate(session: AsyncSession, data: CertificateCreate) -> CertificateRead:
    if data.producer_id is not None:
        await get_producer_or_raise(session, data.producer_id)
    if data.batch_id is not None:
        await get_batch_or_raise(session, data.batch_id)
    if data.product_id is not None and await repository.get_product(session, data.product_id) is None:
        raise ProductNotFound("No such product.")
    cert = Certificate(**data.model_dump(mode="python"))
    cert.kind = data.kind.value
    session.add(cert)
    await session.flush()
    await events.emit(
        session,
        "certificate.created",
        {
            "certificate_id": cert.id,
            "kind": cert.kind,
            "number": cert.number,
            "valid_from": cert.valid_from.isoformat(),
            "valid_until": cert.valid_until.isoformat(),
            "producer_id": cert.producer_id,
            "batch_id": cert.batch_id,
            "product_id": cert.product_id,
        },
        subject=f"certificate/{cert.id}",
    )
    invalidate(session)
    return certificate_read(cert)


async def get_certificate_or_raise(session: AsyncSession, certificate_id: int) -> Certificate:
    cert = await repository.get_certificate(session, certificate_id)
    if cert is None:
        raise CertificateNotFound("No such certificate.")
    return cert


async def attach_certificate_file(session: AsyncSession, certificate_id: int, data: bytes) -> CertificateRead:
    cert = await get_certificate_or_raise(session, certificate_id)
    cleaned, content_type = await files.clean(data, files.DOCUMENT_TYPES)
    previous = cert.file_path
    cert.file_path = await files.store("certificates", cleaned, content_type)
    cert.file_content_type = content_type
    await session.flush()
    storage.remove_after_commit(session, files.path_of(previous))
    invalidate(session)  # pages link to the file once there is one
    return certificate_read(cert)


@dataclass
class CertificateFile:
    data: bytes
    content_type: str
    filename: str


async def _certificate_file(cert: Certificate) -> CertificateFile:
    data = await files.read(cert.file_path) if cert.file_path else None
    if data is None:
        raise CertificateNotFound("This certificate has no file.")
    content_type = cert.file_content_type or "application/octet-stream"
    return CertificateFile(data, content_type, files.download_name(f"certificate-{cert.id}", content_type))


async def certificate_file(session: AsyncSession, certificate_id: int) -> CertificateFile:
    """Staff: any certificate's file."""
    return await _certificate_file(await get_certificate_or_raise(session, certificate_id))


async def public_certificate_file(session: AsyncSession, certificate_id: int) -> CertificateFile:
    """Anyone: the file of a certificate that a published product's page shows (the product's own, its
    batches' and their producers'); every other certificate answers exactly like one that does not exist."""
    cert = await repository.get_certificate(session, certificate_id)
    if cert is None or not await repository.certificate_is_public(session, cert):
        raise CertificateNotFound("No such certificate.")
    return await _certificate_file(cert)


def certificate_file_url(cert: Certificate) -> str | None:
    return f"/api/trace/certificates/{cert.id}/file" if cert.file_path else None


async def warn_expiring_certificates(session: AsyncSession) -> int:
    """Worker job: one `certificate.expiring` event per certificate, 30 days before it expires."""
    now, on = utcnow(), today()
    warned = 0
    for cert in await repository.certificates_expiring(session, on, on + timedelta(days=EXPIRY_WARNING_DAYS)):
        # The conditional update is the claim: with several workers exactly one wins.
        if not await repository.mark_expiry_warned(session, cert.id, now):
            continue
        await events.emit(
            session,
            "certificate.expiring",
            {
                "certificate_id": cert.id,
                "kind": cert.kind,
                "number": cert.number,
                "valid_until": cert.valid_until.isoformat(),
                "days_left": (cert.valid_until - on).days,
                "producer_id": cert.producer_id,
                "batch_id": cert.batch_id,
                "product_id": cert.product_id,
            },
            subject=f"certificate/{cert.id}",
        )
        warned += 1
    return warned


async def _gi_certificates_by_product(
    session: AsyncSession, product_ids: set[int] | None
) -> dict[int, list[Certificate]]:
    """Each product's geographical-indication certificates: its own, its batches' and their producers'."""
    owners = await repository.batch_owners(session, product_ids)
    products_of_batch = {batch_id: product_id for batch_id, product_id, _ in owners}
    products_of_producer: dict[int, set[int]] = defaultdict(set)
    for _, product_id, producer_id in owners:
        products_of_producer[producer_id].add(product_id)
    result: dict[int, list[Certificate]] = defaultdict(list)
    for cert in await repository.gi_certificates(session):
        targets: set[int] = set()
        if cert.product_id is not None:
            targets.add(cert.product_id)
        elif cert.batch_id is not None and cert.batch_id in products_of_batch:
            targets.add(products_of_batch[cert.batch_id])
        elif cert.producer_id is not None:
            targets |= products_of_producer.get(cert.producer_id, set())
        for product_id in targets:
            if product_ids is None or product_id in product_ids:
                result[product_id].append(cert)
    return result


def _gi_expired(certs: list[Certificate]) -> bool:
    """Flagged: it had geographical-indication certificates and every one of them has expired."""
    return bool(certs) and all(certificate_status(c) == "expired" for c in certs)


async def flagged_products(session: AsyncSession) -> list[FlaggedProduct]:
    by_product = await _gi_certificates_by_product(session, None)
    flagged = {pid: certs for pid, certs in by_product.items() if _gi_expired(certs)}
    products = await repository.products_by_ids(session, set(flagged))
    return [
        FlaggedProduct(
            product_id=pid,
            name=products[pid].name if pid in products else "",
            gi_certificates=[certificate_read(c) for c in flagged[pid]],
        )
        for pid in sorted(flagged)
    ]


async def assert_sellable(session: AsyncSession, product_ids: list[int] | set[int]) -> None:
    """Checkout guard: with BLOCK_SALE_ON_EXPIRED_GI set, refuse products whose GI certificates all expired."""
    if not get_settings().block_sale_on_expired_gi or not product_ids:
        return
    by_product = await _gi_certificates_by_product(session, set(product_ids))
    blocked = sorted(pid for pid, certs in by_product.items() if _gi_expired(certs))
    if blocked:
        raise SaleBlockedExpiredGI(
            "The geographical-indication certificate of a product in this order has expired; "
            "it cannot be sold until a valid certificate is recorded.",
            product_ids=blocked,
        )


async def list_certificates(
    session: AsyncSession,
    *,
    producer_id: int | None,
    batch_id: int | None,
    product_id: int | None,
    offset: int,
    limit: int,
) -> tuple[list[CertificateRead], int]:
    """Staff: certificates, filtered by what they belong to (expired ones say so)."""
    rows, total = await repository.list_certificates(
        session, producer_id=producer_id, batch_id=batch_id, product_id=product_id, offset=offset, limit=limit
    )
    return [certificate_read(c) for c in rows], total
