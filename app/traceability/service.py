"""Traceability's supply records: producers and their plots, batches, and the events (with photos) of
each batch; the EPCIS export of a batch. Certificates, trace codes, the public scan, the product page's
story and shipments each have their own module beside this one."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.catalog.cache import invalidate
from app.kit import storage
from app.kit.time import shop_today as today  # certificates and best-before dates are shop calendar days
from app.traceability import files, repository
from app.traceability.errors import (
    BatchNoTaken,
    BatchNotFound,
    EventNotFound,
    PlotNotFound,
    PlotOfAnotherProducer,
    ProducerNameTaken,
    ProducerNotFound,
    ProductNotFound,
)
from app.traceability.models import (
    Batch,
    BatchEvent,
    Plot,
    Producer,
)
from app.traceability.schemas import (
    BatchCreate,
    BatchRead,
    EventCreate,
    EventRead,
    PlotCreate,
    PlotRead,
    ProducerCreate,
    ProducerRead,
)

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


async def list_producers(session: AsyncSession, *, offset: int, limit: int) -> tuple[list[ProducerRead], int]:
    producers, total = await repository.list_producers(session, offset, limit)
    return [ProducerRead.model_validate(p) for p in producers], total


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
    storage.remove_after_commit(session, files.path_of(previous))
    invalidate(session)
    return event_read(event)


async def event_photo(session: AsyncSession, event_uuid: str) -> bytes:
    """A photo shown on trace pages (re-encoded JPEG, public like the page)."""
    event = await repository.get_event_by_uuid(session, event_uuid)
    data = await files.read(event.photo_path) if event is not None and event.photo_path else None
    if data is None:
        raise EventNotFound("No such photo.")
    return data


# Exports


async def epcis_document(session: AsyncSession, batch_id: int) -> dict[str, Any]:
    from app.traceability import epcis

    batch = await get_batch_or_raise(session, batch_id)
    producer = await get_producer_or_raise(session, batch.producer_id)
    plot = await repository.get_plot(session, batch.plot_id) if batch.plot_id else None
    batch_events = list(await repository.list_events(session, [batch.id]))
    gtin = await repository.product_gtin(session, batch.product_id)
    return epcis.build_document(batch, producer, plot, batch_events, gtin=gtin, local_time=local_time)
