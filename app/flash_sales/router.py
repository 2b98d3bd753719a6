from __future__ import annotations

from fastapi import APIRouter, status

from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated
from app.flash_sales import service
from app.flash_sales.errors import FlashSaleClosed, FlashSaleNotFound, OutOfStock, SkuNotFound
from app.flash_sales.schemas import FlashSaleCreate, FlashSaleRead, FlashSaleStaffRead
from app.kit.openapi import problem_responses
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath
from app.users.dependencies import StaffUser

router = APIRouter()
TAGS = ["flash sales"]
STAFF_TAGS = ["flash sales (staff)"]


@router.get(
    "/api/flash-sales",
    response_model=Page[FlashSaleRead],
    tags=TAGS,
    summary="Flash sales running now and to come, soonest first",
    responses=problem_responses(),
)
async def list_flash_sales(session: SessionDep, page: PageParamsDep) -> Page[FlashSaleRead]:
    rows, total = await service.list_current(session, page.offset, page.size)
    return Page(
        items=[FlashSaleRead.model_validate(sale) for sale in rows],
        total=total,
        page=page.page,
        size=page.size,
    )


@router.get(
    "/api/flash-sales/{sale_id}",
    response_model=FlashSaleRead,
    tags=TAGS,
    summary="One flash sale, with the units that remain",
    responses=problem_responses(FlashSaleNotFound),
)
async def get_flash_sale(sale_id: IdPath, session: SessionDep) -> FlashSaleRead:
    return FlashSaleRead.model_validate(await service.get_or_raise(session, sale_id))


@router.post(
    "/api/admin/flash-sales",
    status_code=status.HTTP_201_CREATED,
    response_model=FlashSaleStaffRead,
    tags=STAFF_TAGS,
    summary="Create a flash sale: its quantity is taken from the SKU's stock now",
    responses=problem_responses(NotAuthenticated, Forbidden, SkuNotFound, OutOfStock),
)
async def create_flash_sale(
    data: FlashSaleCreate, staff: StaffUser, session: SessionDep
) -> FlashSaleStaffRead:
    return FlashSaleStaffRead.model_validate(await service.create(session, staff, data))


@router.get(
    "/api/admin/flash-sales",
    response_model=Page[FlashSaleStaffRead],
    tags=STAFF_TAGS,
    summary="Every flash sale, newest first",
    responses=problem_responses(NotAuthenticated, Forbidden),
    operation_id="listFlashSalesForStaff",
)
async def list_for_staff(
    staff: StaffUser, session: SessionDep, page: PageParamsDep
) -> Page[FlashSaleStaffRead]:
    rows, total = await service.list_for_staff(session, page.offset, page.size)
    return Page(
        items=[FlashSaleStaffRead.model_validate(s) for s in rows],
        total=total,
        page=page.page,
        size=page.size,
    )


@router.post(
    "/api/admin/flash-sales/{sale_id}/cancel",
    response_model=FlashSaleStaffRead,
    tags=STAFF_TAGS,
    summary="End a flash sale now: what remains goes back to the stock",
    responses=problem_responses(NotAuthenticated, Forbidden, FlashSaleNotFound, FlashSaleClosed),
)
async def cancel_flash_sale(sale_id: IdPath, staff: StaffUser, session: SessionDep) -> FlashSaleStaffRead:
    return FlashSaleStaffRead.model_validate(await service.cancel(session, staff, sale_id))
