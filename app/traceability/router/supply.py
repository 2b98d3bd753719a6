"""Staff routes for the supply records: producers, plots, batches, their events and photos, EPCIS."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile, status
from fastapi.responses import JSONResponse

from app.catalog.errors import ImageTooLarge, InvalidImage
from app.db import SessionDep
from app.errors import StorageUnavailable
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath, IdQuery
from app.traceability import service
from app.traceability.errors import (
    BatchNoTaken,
    BatchNotFound,
    EventNotFound,
    PlotNotFound,
    PlotOfAnotherProducer,
    ProducerNameTaken,
    ProducerNotFound,
    ProductNotFound,
    UnsupportedFile,
)
from app.traceability.router.common import STAFF, staff_errors
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
from app.users.dependencies import StaffUser

router = APIRouter()


@router.post(
    "/api/admin/producers",
    status_code=status.HTTP_201_CREATED,
    response_model=ProducerRead,
    tags=STAFF,
    summary="Register a producer (cooperative or farm) with its GI authorisation number",
    responses=staff_errors(ProducerNameTaken),
)
async def create_producer(data: ProducerCreate, _staff: StaffUser, session: SessionDep) -> ProducerRead:
    return ProducerRead.model_validate(await service.create_producer(session, data))


@router.get(
    "/api/admin/producers",
    response_model=Page[ProducerRead],
    tags=STAFF,
    summary="List producers",
    responses=staff_errors(),
)
async def list_producers(_staff: StaffUser, session: SessionDep, page: PageParamsDep) -> Page[ProducerRead]:
    items, total = await service.list_producers(session, offset=page.offset, limit=page.size)
    return Page(items=items, total=total, page=page.page, size=page.size)


@router.get(
    "/api/admin/producers/{producer_id}",
    response_model=ProducerRead,
    tags=STAFF,
    summary="One producer",
    responses=staff_errors(ProducerNotFound),
)
async def get_producer(producer_id: IdPath, _staff: StaffUser, session: SessionDep) -> ProducerRead:
    return ProducerRead.model_validate(await service.get_producer_or_raise(session, producer_id))


@router.post(
    "/api/admin/producers/{producer_id}/plots",
    status_code=status.HTTP_201_CREATED,
    response_model=PlotRead,
    tags=STAFF,
    summary="Add a plot to a producer (or update the plot of that name)",
    responses=staff_errors(ProducerNotFound),
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
    responses=staff_errors(ProducerNotFound),
)
async def list_plots(producer_id: IdPath, _staff: StaffUser, session: SessionDep) -> list[PlotRead]:
    return await service.list_plots(session, producer_id)


@router.post(
    "/api/admin/batches",
    status_code=status.HTTP_201_CREATED,
    response_model=BatchRead,
    tags=STAFF,
    summary="Record a batch: product, producer, plot (id, or a name found or created), dates, quantity",
    responses=staff_errors(
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
    responses=staff_errors(),
)
async def list_batches(
    _staff: StaffUser, session: SessionDep, page: PageParamsDep, product_id: IdQuery = None
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
    responses=staff_errors(BatchNotFound),
)
async def get_batch(batch_id: IdPath, _staff: StaffUser, session: SessionDep) -> BatchRead:
    return await service.get_batch_read(session, batch_id)


@router.post(
    "/api/admin/batches/{batch_id}/events",
    status_code=status.HTTP_201_CREATED,
    response_model=EventRead,
    tags=STAFF,
    summary="Record what happened to a batch, when (with time zone), where and why",
    responses=staff_errors(BatchNotFound),
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
    responses=staff_errors(BatchNotFound),
)
async def list_events(batch_id: IdPath, _staff: StaffUser, session: SessionDep) -> list[EventRead]:
    return await service.list_events(session, batch_id)


@router.put(
    "/api/admin/batches/{batch_id}/events/{event_id}/photo",
    response_model=EventRead,
    tags=STAFF,
    summary="Attach a photo (PNG, JPEG or WebP, sniffed from its bytes; re-encoded, EXIF dropped) to an event",
    responses=staff_errors(EventNotFound, UnsupportedFile, InvalidImage, ImageTooLarge, StorageUnavailable),
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
        **staff_errors(BatchNotFound, validation=False),
        200: {"content": {"application/ld+json": {}}, "description": "EPCISDocument"},
    },
)
async def export_epcis(batch_id: IdPath, _staff: StaffUser, session: SessionDep) -> JSONResponse:
    document = await service.epcis_document(session, batch_id)
    return JSONResponse(document, media_type="application/ld+json")
