from __future__ import annotations

from fastapi import APIRouter, status

from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath
from app.presales import service
from app.presales.errors import PresaleNotFound, SkuNotFound
from app.presales.schemas import (
    BehindRead,
    PresaleCreate,
    PresaleOrderRead,
    PresaleRead,
    PresaleStaffRead,
)
from app.users.dependencies import CurrentUser, StaffUser

router = APIRouter()
TAGS = ["pre-sales"]
STAFF_TAGS = ["pre-sales (staff)"]


@router.get(
    "/api/presales/{presale_id}",
    response_model=PresaleRead,
    tags=TAGS,
    summary="One pre-sale: deposit, balance, the quota that remains and its dates",
    responses=problem_responses(PresaleNotFound),
)
async def get_presale(presale_id: IdPath, session: SessionDep) -> PresaleRead:
    return PresaleRead.model_validate(await service.get_or_raise(session, presale_id))


@router.get(
    "/api/users/me/presale-orders",
    response_model=Page[PresaleOrderRead],
    tags=TAGS,
    summary="My pre-sale orders, newest first, with their stage and what the next payment must be",
    responses=problem_responses(NotAuthenticated),
)
async def list_my_presale_orders(
    user: CurrentUser, session: SessionDep, page: PageParamsDep
) -> Page[PresaleOrderRead]:
    rows, total = await service.list_mine(session, user, page.offset, page.size)
    return Page(items=rows, total=total, page=page.page, size=page.size)


@router.post(
    "/api/admin/presales",
    status_code=status.HTTP_201_CREATED,
    response_model=PresaleStaffRead,
    tags=STAFF_TAGS,
    summary="Create a pre-sale of a SKU: its quota is apart from the SKU's stock (taken when orders ship)",
    responses=problem_responses(NotAuthenticated, Forbidden, SkuNotFound),
)
async def create_presale(data: PresaleCreate, staff: StaffUser, session: SessionDep) -> PresaleStaffRead:
    return PresaleStaffRead.model_validate(await service.create(session, staff, data))


@router.get(
    "/api/admin/presales",
    response_model=Page[PresaleStaffRead],
    tags=STAFF_TAGS,
    summary="Every pre-sale, newest first",
    responses=problem_responses(NotAuthenticated, Forbidden),
)
async def list_presales(staff: StaffUser, session: SessionDep, page: PageParamsDep) -> Page[PresaleStaffRead]:
    rows, total = await service.list_all(session, page.offset, page.size)
    return Page(
        items=[PresaleStaffRead.model_validate(p) for p in rows], total=total, page=page.page, size=page.size
    )


@router.get(
    "/api/admin/presales/{presale_id}/behind",
    response_model=Page[BehindRead],
    tags=STAFF_TAGS,
    summary="The pre-sale's orders whose deposit is paid and balance is not, with the buyer's phone",
    responses=problem_responses(NotAuthenticated, Forbidden, PresaleNotFound),
)
async def list_behind(
    presale_id: IdPath, staff: StaffUser, session: SessionDep, page: PageParamsDep
) -> Page[BehindRead]:
    rows, total = await service.behind(session, presale_id, page.offset, page.size)
    items = [
        BehindRead(**read.model_dump(), user_id=user_id, buyer_phone=phone) for read, user_id, phone in rows
    ]
    return Page(items=items, total=total, page=page.page, size=page.size)
