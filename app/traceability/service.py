"""Traceability: producers, plots, batches and their events, certificates, trace codes and verification."""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.catalog import cache as catalog_cache
from app.catalog import live as catalog_live
from app.catalog.cache import invalidate
from app.config import get_settings
from app.db import session_scope, utcnow
from app.kit.time import shop_today as today  # certificates and best-before dates are shop calendar days
from app.traceability import codes as codebook
from app.traceability import files, repository, scans
from app.traceability.errors import (
    BatchNoTaken,
    BatchNotFound,
    BatchOfAnotherProduct,
    CertificateNotFound,
    CodeRunNotFound,
    EventNotFound,
    PlotNotFound,
    PlotOfAnotherProducer,
    ProducerNameTaken,
    ProducerNotFound,
    ProductNotFound,
    SaleBlockedExpiredGI,
    TooManyUnknownCodes,
    UnknownCode,
    UnknownOrderLine,
)
from app.traceability.models import (
    Batch,
    BatchEvent,
    Certificate,
    CertificateKind,
    CodeRun,
    CodeRunStatus,
    Plot,
    Producer,
    TraceCode,
    TraceScan,
)
from app.traceability.schemas import (
    BatchCreate,
    BatchOrderRead,
    BatchRead,
    CertificateCreate,
    CertificateRead,
    CodeRunRead,
    EventCreate,
    EventRead,
    FlaggedProduct,
    PlotCreate,
    PlotRead,
    ProducerCreate,
    ProducerRead,
    RecallLine,
    TraceBatch,
    TraceCertificate,
    TraceEvent,
    TracePlot,
    TraceProducer,
    TraceProduct,
    TraceResult,
    TraceStory,
    TraceVerdict,
)
from app.users import throttle

EXPIRY_WARNING_DAYS = 30
CODE_RUN_CHUNK = 2000


# Producers and plots


async def create_producer(session: AsyncSession, data: ProducerCreate) -> Producer:
    if await repository.get_producer_by_name(session, data.name) is not None:
        raise ProducerNameTaken("A producer with this name exists.")
    producer = Producer(**data.model_dump())
    session.add(producer)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise ProducerNameTaken("A producer with this name exists.") from exc
    await events.emit(
        session,
        "producer.created",
        {"producer_id": producer.id, "name": producer.name, "region": producer.region},
        subject=f"producer/{producer.id}",
    )
    return producer


async def get_producer_or_raise(session: AsyncSession, producer_id: int) -> Producer:
    producer = await repository.get_producer(session, producer_id)
    if producer is None:
        raise ProducerNotFound("No such producer.")
    return producer


async def create_plot(session: AsyncSession, producer_id: int, data: PlotCreate) -> Plot:
    await get_producer_or_raise(session, producer_id)
    existing = await repository.get_plot_by_name(session, producer_id, data.name)
    if existing is not None:
        for field, value in data.model_dump(exclude_unset=True).items():
            setattr(existing, field, value)
        await session.flush()
        invalidate(session)  # trace pages and product pages show the plot
        return existing
    plot = Plot(producer_id=producer_id, **data.model_dump())
    session.add(plot)
    await session.flush()
    return plot


async def list_plots(session: AsyncSession, producer_id: int) -> list[PlotRead]:
    await get_producer_or_raise(session, producer_id)
    return [PlotRead.model_validate(p) for p in await repository.list_plots(session, producer_id)]


async def list_producers_with_plots(
    session: AsyncSession, *, offset: int, limit: int
) -> tuple[list[tuple[ProducerRead, list[PlotRead]]], int]:
    """A page of producers, each with its plots (for the back office)."""
    producers, total = await repository.list_producers(session, offset, limit)
    plots = await repository.plots_of_producers(session, {p.id for p in producers})
    rows = [
        (ProducerRead.model_validate(p), [PlotRead.model_validate(x) for x in plots[p.id]]) for p in producers
    ]
    return rows, total


async def _resolve_plot(session: AsyncSession, producer_id: int, plot: int | str | None) -> Plot | None:
    if plot is None:
        return None
    if isinstance(plot, int):
        found = await repository.get_plot(session, plot)
        if found is None:
            raise PlotNotFound("No such plot.")
        if found.producer_id != producer_id:
            raise PlotOfAnotherProducer("That plot belongs to another producer.")
        return found
    found = await repository.get_plot_by_name(session, producer_id, plot)
    if found is None:
        found = Plot(producer_id=producer_id, name=plot)
        session.add(found)
        await session.flush()
    return found


# Batches


def _grams(kg: Decimal) -> int:
    return int((kg * 1000).to_integral_value())


def batch_read(batch: Batch, plot: Plot | None) -> BatchRead:
    return BatchRead(
        id=batch.id,
        batch_no=batch.batch_no,
        product_id=batch.product_id,
        producer_id=batch.producer_id,
        plot_id=batch.plot_id,
        plot=PlotRead.model_validate(plot) if plot else None,
        variety=batch.variety,
        planted_on=batch.planted_on,
        harvested_on=batch.harvested_on,
        milled_on=batch.milled_on,
        packed_on=batch.packed_on,
        best_before_on=batch.best_before_on,
        quantity_kg=Decimal(batch.quantity_kg).quantize(Decimal("0.001")),
        quantity_left_kg=(Decimal(batch.quantity_left_g) / 1000).quantize(Decimal("0.001")),
        notes=batch.notes,
        created_at=batch.created_at,
    )


async def create_batch(session: AsyncSession, data: BatchCreate) -> BatchRead:
    product = await repository.get_product(session, data.product_id)
    if product is None:
        raise ProductNotFound("No such product.")
    await get_producer_or_raise(session, data.producer_id)
    if data.batch_no and await repository.get_batch_by_no(session, data.batch_no) is not None:
        raise BatchNoTaken("A batch with this number exists.")
    plot = await _resolve_plot(session, data.producer_id, data.plot)
    best_before = data.best_before_on
    packed_or_milled = data.packed_on or data.milled_on
    if best_before is None and packed_or_milled and product.shelf_life_days:
        best_before = packed_or_milled + timedelta(days=product.shelf_life_days)
    batch = Batch(
        batch_no=data.batch_no or _new_batch_no(),
        product_id=data.product_id,
        producer_id=data.producer_id,
        plot_id=plot.id if plot else None,
        variety=data.variety or product.variety,
        planted_on=data.planted_on,
        harvested_on=data.harvested_on,
        milled_on=data.milled_on,
        packed_on=data.packed_on,
        best_before_on=best_before,
        quantity_kg=data.quantity_kg,
        quantity_left_g=_grams(data.quantity_kg),
        notes=data.notes,
    )
    session.add(batch)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise BatchNoTaken("A batch with this number exists.") from exc
    await events.emit(
        session,
        "batch.created",
        {
            "batch_id": batch.id,
            "batch_no": batch.batch_no,
            "product_id": batch.product_id,
            "producer_id": batch.producer_id,
            "quantity_kg": str(batch_read(batch, plot).quantity_kg),
        },
        subject=f"batch/{batch.id}",
    )
    invalidate(session)  # the product page lists its batches
    return batch_read(batch, plot)


def _new_batch_no() -> str:
    return f"DX{today():%Y%m%d}-{secrets.token_hex(3).upper()}"


async def get_batch_or_raise(session: AsyncSession, batch_id: int) -> Batch:
    batch = await repository.get_batch(session, batch_id)
    if batch is None:
        raise BatchNotFound("No such batch.")
    return batch


async def get_batch_read(session: AsyncSession, batch_id: int) -> BatchRead:
    batch = await get_batch_or_raise(session, batch_id)
    plot = await repository.get_plot(session, batch.plot_id) if batch.plot_id else None
    return batch_read(batch, plot)


async def list_batches(
    session: AsyncSession, *, product_id: int | None, offset: int, limit: int
) -> tuple[list[BatchRead], int]:
    batches, total = await repository.list_batches(session, product_id=product_id, offset=offset, limit=limit)
    plots = await repository.plots_by_ids(session, {b.plot_id for b in batches if b.plot_id})
    return [batch_read(b, plots.get(b.plot_id) if b.plot_id else None) for b in batches], total


# Events


def _offset_text(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _offset_delta(text: str) -> timedelta:
    sign = -1 if text.startswith("-") else 1
    hours, minutes = text[1:].split(":")
    return sign * timedelta(hours=int(hours), minutes=int(minutes))


def local_time(event: BatchEvent) -> datetime:
    return event.occurred_at.astimezone(timezone(_offset_delta(event.tz_offset)))


def photo_url(event: BatchEvent) -> str | None:
    return f"/api/trace/event-photos/{event.event_uuid}" if event.photo_path else None


def event_read(event: BatchEvent) -> EventRead:
    return EventRead(
        id=event.id,
        batch_id=event.batch_id,
        type=event.type,
        occurred_at=local_time(event),
        time_zone_offset=event.tz_offset,
        location=event.location,
        details=event.details or {},
        photo_url=photo_url(event),
        created_at=event.created_at,
    )


async def record_event(
    session: AsyncSession, batch_id: int, data: EventCreate, *, recorded_by: int | None
) -> EventRead:
    await get_batch_or_raise(session, batch_id)
    event = BatchEvent(
        event_uuid=str(uuid.uuid4()),
        batch_id=batch_id,
        type=data.type.value,
        occurred_at=data.occurred_at,
        tz_offset=_offset_text(data.occurred_at),
        location=data.location,
        details=data.details,
        recorded_by=recorded_by,
    )
    session.add(event)
    await session.flush()
    await events.emit(
        session,
        "batch.event_recorded",
        {
            "batch_id": batch_id,
            "event_id": event.id,
            "type": event.type,
            "occurred_at": local_time(event).isoformat(),
        },
        subject=f"batch/{batch_id}",
    )
    invalidate(session)
    return event_read(event)


async def list_events(session: AsyncSession, batch_id: int) -> list[EventRead]:
    await get_batch_or_raise(session, batch_id)
    return [event_read(e) for e in await repository.list_events(session, [batch_id])]


async def attach_event_photo(session: AsyncSession, batch_id: int, event_id: int, data: bytes) -> EventRead:
    event = await repository.get_event(session, batch_id, event_id)
    if event is None:
        raise EventNotFound("No such event of this batch.")
    cleaned, content_type = await files.clean(data, files.IMAGE_TYPES)
    previous = event.photo_path
    event.photo_path = await files.store("photos", cleaned, content_type)
    await session.flush()
    await files.remove(previous)
    invalidate(session)
    return event_read(event)


async def event_photo(session: AsyncSession, event_uuid: str) -> bytes:
    """A photo shown on trace pages (re-encoded JPEG, public like the page)."""
    event = await repository.get_event_by_uuid(session, event_uuid)
    data = await files.read(event.photo_path) if event is not None and event.photo_path else None
    if data is None:
        raise EventNotFound("No such photo.")
    return data


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
    await files.remove(previous)
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


# Trace codes


async def issue_codes(
    session: AsyncSession, batch_id: int, count: int, *, run_id: int | None = None
) -> list[str]:
    """`count` fresh random codes for the batch. A clash with an existing code (one in 2^65 per pair)
    is detected and that code drawn again; the unique index is the final word."""
    for _ in range(5):
        fresh: set[str] = set()
        while len(fresh) < count:
            fresh.add(codebook.new_code())
        clashes = await repository.existing_codes(session, list(fresh))
        while clashes:
            fresh -= clashes
            while len(fresh) < count:
                fresh.add(codebook.new_code())
            clashes = await repository.existing_codes(session, list(fresh))
        codes = list(fresh)
        try:
            async with session.begin_nested():
                await repository.insert_codes(session, batch_id, codes, run_id)
        except IntegrityError:  # a concurrent issue drew the same code between our check and insert
            continue
        return codes
    raise RuntimeError("could not issue unique trace codes")


async def create_codes(session: AsyncSession, batch_id: int, count: int) -> list[str]:
    await get_batch_or_raise(session, batch_id)
    codes = await issue_codes(session, batch_id, count)
    await events.emit(
        session,
        "trace_codes.issued",
        {"batch_id": batch_id, "count": len(codes), "run_id": None},
        subject=f"batch/{batch_id}",
    )
    return codes


def code_run_read(run: CodeRun) -> CodeRunRead:
    return CodeRunRead(
        id=run.id,
        batch_id=run.batch_id,
        requested=run.requested,
        issued=run.issued,
        status=run.status,
        progress_percent=run.issued * 100 // run.requested if run.requested else 100,
        created_at=run.created_at,
        finished_at=run.finished_at,
    )


async def start_code_run(
    session: AsyncSession, batch_id: int, count: int, *, requested_by: int | None
) -> CodeRunRead:
    await get_batch_or_raise(session, batch_id)
    run = CodeRun(batch_id=batch_id, requested=count, requested_by=requested_by)
    session.add(run)
    await session.flush()
    return code_run_read(run)


async def get_code_run(session: AsyncSession, run_id: int) -> CodeRunRead:
    run = await repository.get_code_run(session, run_id)
    if run is None:
        raise CodeRunNotFound("No such code run.")
    return code_run_read(run)


async def process_code_run_chunk(session: AsyncSession, chunk: int = CODE_RUN_CHUNK) -> int:
    """Issue the next chunk of one unfinished run (locked; other workers take other runs)."""
    run = await repository.claim_code_run(session)
    if run is None:
        return 0
    n = min(chunk, run.requested - run.issued)
    if n > 0:
        await issue_codes(session, run.batch_id, n, run_id=run.id)
    run.issued += n
    run.updated_at = utcnow()
    run.status = CodeRunStatus.running.value
    if run.issued >= run.requested:
        run.status = CodeRunStatus.done.value
        run.finished_at = utcnow()
        await events.emit(
            session,
            "trace_codes.issued",
            {"batch_id": run.batch_id, "count": run.issued, "run_id": run.id},
            subject=f"batch/{run.batch_id}",
        )
    await session.flush()
    return max(n, 1)


async def revoke_codes(session: AsyncSession, raw_codes: list[str], reason: str) -> tuple[int, list[str]]:
    valid, unknown = [], []
    for raw in raw_codes:
        code = codebook.normalize(raw)
        (valid if code else unknown).append(code or raw)
    known = await repository.existing_codes(session, valid) if valid else set()
    unknown += [c for c in valid if c not in known]
    revoked = await repository.revoke_codes(session, sorted(known), reason, utcnow()) if known else 0
    for code in sorted(known):
        await events.emit(
            session, "trace_code.revoked", {"code": code, "reason": reason}, subject=f"code/{code}"
        )
    return revoked, unknown


# Public verification


def client_network(ip: str) -> str:
    """What a scan log keeps of the client address: its IPv4 /24 or IPv6 /48, never the address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _miss_key(ip: str) -> str:
    # Per client network (IPv4 /24, IPv6 /48): one client holds a whole IPv6 /64 or more, and a guesser
    # spreading over neighbouring addresses is still one guesser.
    return f"trace:miss:{client_network(ip) or ip[:64]}"


@dataclass
class ScanOutcome:
    verdict: TraceVerdict
    story: bytes  # the batch's story as JSON members: "product":{...},"batch":{...},"certificates":[...]
    scanner: str

    @property
    def first_scan(self) -> bool:
        return self.verdict.scan_count == 1

    def json(self) -> bytes:
        """The answer of GET /api/trace/{code}: exactly `TraceResult` serialised, the story spliced in."""
        return self.verdict.model_dump_json().encode()[:-1] + b"," + self.story + b"}"

    def result(self) -> TraceResult:
        return TraceResult.model_validate_json(self.json())


async def _refuse_unknown(client_ip: str) -> None:
    """An unknown code: counted against the client's network, so guessing codes is slow. Only unknown codes
    are ever refused: a real code answers whatever its network did before (see `scan`)."""
    settings = get_settings()
    key, window = _miss_key(client_ip), settings.trace_miss_window_seconds
    misses, retry_after = await throttle.count(key, window)
    if misses >= settings.trace_max_misses_per_ip:
        raise TooManyUnknownCodes(
            "Too many unknown codes from this network; try again later.", retry_after=retry_after
        )
    await throttle.hit(key, window)
    raise UnknownCode("No such trace code.")


async def scan(raw_code: str, *, client_ip: str, user_agent: str, device: str | None = None) -> ScanOutcome:
    """Verify a code and count the scan. `device`: the scanner id of the page's device cookie, if valid.

    Two round trips on the hot path: the code with the catalogue version (one lean read), and the count
    (one Redis call; without Redis, one short transaction). The batch's story comes from the catalogue's
    cache. Each unit of work here is its own (see app.traceability.scans)."""
    # The check symbol rejects a mistyped code here, without a database lookup; it tells a guesser nothing
    # (the check symbol is public arithmetic), so it does not count as a miss either.
    code = codebook.normalize(raw_code)
    if code is None:
        raise UnknownCode("No such trace code.")
    # The code is looked up before the miss throttle: thirty junk codes from a shared address must not stop
    # a genuine bag from answering for everyone behind it.
    row = await scans.lookup(code)
    if row is None:
        await _refuse_unknown(client_ip)
    assert row is not None
    network = client_network(client_ip)
    user_agent = user_agent[:255]
    scanner = device or scans.network_scanner(network, user_agent)
    now = utcnow()
    tally = await scans.record(row, scans.Scan(row.id, scanner, network, user_agent, now))
    story = await trace_story(row.batch_id, row.catalog_version)
    reasons = scans.judge(
        scanner_count=tally.scanner_count,
        revoked=row.revoked_at is not None,
        best_before_on=story.best_before_on,
        today=today(),
    )
    if reasons and row.flagged_at is None:
        await _flag(row, story.product_id, reasons, tally, now)
    verdict = TraceVerdict(
        code=code,
        verdict="suspicious" if reasons else "genuine",
        reasons=reasons,  # type: ignore[arg-type]
        scan_count=tally.scan_count,
        scanner_count=tally.scanner_count,
        first_scanned_at=tally.first_scanned_at,
    )
    return ScanOutcome(verdict=verdict, story=story.members, scanner=scanner)


async def _flag(
    row: scans.CodeRow, product_id: int, reasons: list[str], tally: scans.Tally, now: datetime
) -> None:
    """The first suspicious verdict of a code is recorded once (a conditional UPDATE: one winner)."""
    async with session_scope() as session:
        if await repository.mark_flagged(session, row.id, now):
            await events.emit(
                session,
                "trace_code.flagged",
                {
                    "code": row.code,
                    "batch_id": row.batch_id,
                    "product_id": product_id,
                    "reasons": reasons,
                    "scan_count": tally.scan_count,
                    "scanner_count": tally.scanner_count,
                    "flagged_at": now.isoformat(),
                },
                subject=f"code/{row.code}",
                version=2,
            )


@dataclass(frozen=True)
class Story:
    product_id: int
    best_before_on: date | None
    members: bytes


STORY_KEY = "trace-story:{batch_id}:{day}"


async def trace_story(batch_id: int, version: int | None) -> Story:
    """The batch's story from the catalogue's cache (process memory, then Redis), rebuilt after any write
    that calls `invalidate` (batches, events, photos, certificates, producers, plots, products). Keyed by
    the day too: a certificate's status changes at midnight without any write."""
    if version is None:
        version = await catalog_live.version()
    key = STORY_KEY.format(batch_id=batch_id, day=today().isoformat())
    raw = await catalog_cache.cached(version, key, lambda: _build_story(batch_id))
    meta, members = raw.split(b"\n", 1)
    product_id, best_before = meta.decode().split(" ")
    return Story(int(product_id), date.fromisoformat(best_before) if best_before != "-" else None, members)


async def _build_story(batch_id: int) -> bytes:
    async with session_scope() as session:
        batch = await repository.get_batch(session, batch_id)
        assert batch is not None
        product = await repository.get_product(session, batch.product_id)
        producer = await repository.get_producer(session, batch.producer_id)
        assert product is not None and producer is not None
        plot = await repository.get_plot(session, batch.plot_id) if batch.plot_id else None
        batch_events = await repository.list_events(session, [batch.id])
        certs = await repository.certificates_for(
            session, product_ids={product.id}, batch_ids={batch.id}, producer_ids={producer.id}
        )
        story = TraceStory(
            product=TraceProduct.model_validate(product),
            batch=TraceBatch(
                id=batch.id,
                batch_no=batch.batch_no,
                variety=batch.variety,
                producer=TraceProducer.model_validate(producer),
                plot=TracePlot.model_validate(plot) if plot else None,
                planted_on=batch.planted_on,
                harvested_on=batch.harvested_on,
                milled_on=batch.milled_on,
                packed_on=batch.packed_on,
                best_before_on=batch.best_before_on,
                events=[
                    TraceEvent(
                        type=e.type,
                        occurred_at=local_time(e),
                        time_zone_offset=e.tz_offset,
                        location=e.location,
                        details=e.details or {},
                        photo_url=photo_url(e),
                    )
                    for e in batch_events
                ],
            ),
            certificates=[trace_certificate(c, file_public=product.status == "published") for c in certs],
        )
    best_before = batch.best_before_on.isoformat() if batch.best_before_on else "-"
    meta = f"{product.id} {best_before}".encode()
    return meta + b"\n" + story.model_dump_json().encode()[1:-1]


async def scan_history(
    session: AsyncSession, raw_code: str, *, offset: int, limit: int
) -> tuple[list[TraceScan], int]:
    """Staff: a code's raw scans, newest first (those still in Redis appear after the next flush)."""
    code = codebook.normalize(raw_code)
    row = await repository.get_code(session, code) if code else None
    if row is None:
        raise UnknownCode("No such trace code.")
    scans_, total = await repository.list_scans(session, row.id, offset=offset, limit=limit)
    return list(scans_), total


# For the catalogue's product detail


async def product_story(session: AsyncSession, product_id: int, *, max_batches: int = 10) -> dict[str, Any]:
    """A product's batches (producer, plot, dates, events in brief) and certificates, JSON-ready."""
    batches = await repository.batches_of_product(session, product_id, max_batches)
    producers = await repository.producers_by_ids(session, {b.producer_id for b in batches})
    plots = await repository.plots_by_ids(session, {b.plot_id for b in batches if b.plot_id})
    batch_events = await repository.list_events(session, [b.id for b in batches])
    events_of: dict[int, list[BatchEvent]] = defaultdict(list)
    for e in batch_events:
        events_of[e.batch_id].append(e)
    certs = await repository.certificates_for(
        session,
        product_ids={product_id},
        batch_ids={b.id for b in batches},
        producer_ids=set(producers),
    )

    def iso(d: date | None) -> str | None:
        return d.isoformat() if d else None

    story_batches = []
    for b in batches:
        producer, plot = producers[b.producer_id], plots.get(b.plot_id) if b.plot_id else None
        story_batches.append(
            {
                "id": b.id,
                "batch_no": b.batch_no,
                "variety": b.variety,
                "producer": {
                    "id": producer.id,
                    "name": producer.name,
                    "region": producer.region,
                    "license_no": producer.license_no,
                },
                "plot": (
                    {
                        "name": plot.name,
                        "village": plot.village,
                        "area_mu": str(plot.area_mu) if plot.area_mu is not None else None,
                    }
                    if plot
                    else None
                ),
                "planted_on": iso(b.planted_on),
                "harvested_on": iso(b.harvested_on),
                "milled_on": iso(b.milled_on),
                "packed_on": iso(b.packed_on),
                "best_before_on": iso(b.best_before_on),
                "events": [
                    {"type": e.type, "occurred_at": local_time(e).isoformat(), "location": e.location}
                    for e in events_of[b.id]
                ],
            }
        )
    story_certs = []
    for c in certs:
        status = certificate_status(c)
        story_certs.append(
            {
                "id": c.id,
                "kind": c.kind,
                "number": c.number,
                "issuer": c.issuer,
                "valid_from": c.valid_from.isoformat(),
                "valid_until": c.valid_until.isoformat(),
                "status": status,
                "expired": status == "expired",
                "file_url": certificate_file_url(c),
            }
        )
    return {"batches": story_batches, "certificates": story_certs}


__all__ = ["CertificateKind"]


# Exports


async def epcis_document(session: AsyncSession, batch_id: int) -> dict[str, Any]:
    from app.traceability import epcis

    batch = await get_batch_or_raise(session, batch_id)
    producer = await get_producer_or_raise(session, batch.producer_id)
    plot = await repository.get_plot(session, batch.plot_id) if batch.plot_id else None
    batch_events = list(await repository.list_events(session, [batch.id]))
    gtin = await repository.product_gtin(session, batch.product_id)
    return epcis.build_document(batch, producer, plot, batch_events, gtin=gtin, local_time=local_time)


async def codes_for_labels(
    session: AsyncSession, batch_id: int, *, run_id: int | None, limit: int
) -> tuple[Batch, list[str]]:
    batch = await get_batch_or_raise(session, batch_id)
    rows, _ = await repository.list_codes(
        session, batch_id, run_id=run_id, include_revoked=False, limit=limit
    )
    return batch, [r.code for r in rows]


async def list_codes(
    session: AsyncSession, batch_id: int, *, run_id: int | None, offset: int, limit: int | None
) -> tuple[list[TraceCode], int]:
    await get_batch_or_raise(session, batch_id)
    rows, total = await repository.list_codes(session, batch_id, run_id=run_id, offset=offset, limit=limit)
    return list(rows), total


def trace_url(code: str) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/trace/{code}"


# Recall


async def record_shipment(
    session: AsyncSession, order_id: int, lines: list[tuple[int | None, int | None, int]]
) -> None:
    """Hook for the orders domain when staff ship an order: record which batch each line came from.

    `lines` are (order item id or None, sku id or None, batch id) as staff gave them; every other line gets
    the first-expiry-first-out batch of its product that has quantity left (none when there is none). The
    batch's quantity left goes down atomically by the line's weight."""
    from app.traceability.models import BatchAllocation

    order_lines = await repository.order_lines(session, order_id)
    chosen: dict[int, int] = {}
    for item_id, sku_id, batch_id in lines:
        match = [
            line
            for line in order_lines
            if (item_id is not None and line[0] == item_id) or (item_id is None and line[1] == sku_id)
        ]
        if not match:
            raise UnknownOrderLine(
                "A line named in `lines` is not part of this order.", order_item_id=item_id, sku_id=sku_id
            )
        for line in match:
            chosen[line[0]] = batch_id
    for item_id, _sku_id, product_id, quantity, weight_g in order_lines:
        grams = quantity * weight_g
        batch_id = chosen.get(item_id)
        if batch_id is not None:
            batch = await get_batch_or_raise(session, batch_id)
            if batch.product_id != product_id:
                raise BatchOfAnotherProduct("That batch is of another product.", batch_id=batch_id)
            await repository.take_from_batch(session, batch_id, grams, or_what_is_left=True)
            how = "staff"
        else:
            candidates = await repository.fefo_candidates(session, product_id)
            if not candidates:
                continue
            for candidate in candidates:
                if await repository.take_from_batch(session, candidate, grams, or_what_is_left=False):
                    batch_id = candidate
                    break
            else:  # no batch holds the whole line: the first to expire gives what it has left
                batch_id = candidates[0]
                await repository.take_from_batch(session, batch_id, grams, or_what_is_left=True)
            how = "fefo"
        session.add(
            BatchAllocation(
                order_item_id=item_id,
                order_id=order_id,
                batch_id=batch_id,
                quantity=quantity,
                quantity_g=grams,
                chosen_by=how,
            )
        )
    await session.flush()


async def orders_of_batch(
    session: AsyncSession, batch_id: int, *, offset: int, limit: int
) -> tuple[list[BatchOrderRead], int]:
    await get_batch_or_raise(session, batch_id)
    rows, total = await repository.orders_of_batch(session, batch_id, offset, limit)
    result: dict[int, BatchOrderRead] = {}
    for order, item, allocation in rows:
        read = result.get(order.id)
        if read is None:
            read = result[order.id] = BatchOrderRead(
                order_id=order.id,
                order_no=order.order_no,
                status=order.status,
                user_id=order.user_id,
                recipient=str((order.address or {}).get("recipient", "")),
                recipient_phone=order.recipient_phone,
                shipped_at=order.shipped_at,
                lines=[],
            )
        read.lines.append(
            RecallLine(
                order_item_id=item.id,
                sku_id=item.sku_id,
                name=item.name,
                quantity=allocation.quantity,
                chosen_by=allocation.chosen_by,
            )
        )
    return list(result.values()), total
