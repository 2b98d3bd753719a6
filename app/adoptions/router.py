"""Adoption plans (staff create, the public reads) and the adopter's adoptions. Adopting and drawing
deliveries are orders: their routes are checkout's (app.checkout.adoption_router)."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.adoptions import service
from app.adoptions.errors import AdoptionPlanNotFound, PlotNotFound, PlotWithoutProduct
from app.adoptions.schemas import AdoptionPlanCreate, AdoptionPlanDetail, AdoptionPlanRead, AdoptionRead
from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath
from app.users.dependencies import CurrentPrincipal, StaffUser

router = APIRouter()
TAGS = ["adoption"]
STAFF_TAGS = ["adoption (staff)"]


@router.get(
    "/api/adoption-plans",
    response_model=Page[AdoptionPlanRead],
    tags=TAGS,
    summary="Adoption plans whose season is not over, newest first",
    responses=problem_responses(),
)
async def list_plans(session: SessionDep, page: PageParamsDep) -> Page[AdoptionPlanRead]:
    rows, total = await service.list_open(session, page.offset, page.size)
    return Page(
        items=[AdoptionPlanRead.model_validate(p) for p in rows], total=total, page=page.page, size=page.size
    )


@router.get(
    "/api/adoption-plans/{plan_id}",
    response_model=AdoptionPlanDetail,
    tags=TAGS,
    summary="One adoption plan with the shares left and its plot's story: events, photos, certificates",
    responses=problem_responses(AdoptionPlanNotFound),
)
async def get_plan(plan_id: IdPath, session: SessionDep) -> AdoptionPlanDetail:
    return AdoptionPlanDetail.model_validate(await service.plan_detail(session, plan_id))


@router.get(
    "/api/users/me/adoptions",
    response_model=list[AdoptionRead],
    tags=TAGS,
    summary="My paid adoptions: kg owned and left, the plot's events, the deliveries drawn",
    responses=problem_responses(NotAuthenticated),
)
async def my_adoptions(user: CurrentPrincipal, session: SessionDep) -> list[AdoptionRead]:
    return await service.my_adoptions(session, user.id)


@router.post(
    "/api/admin/adoption-plans",
    status_code=status.HTTP_201_CREATED,
    response_model=AdoptionPlanRead,
    tags=STAFF_TAGS,
    summary="Offer a plot's season as shares (the bag the rice ships in is the plot's product's lightest SKU)",
    responses=problem_responses(NotAuthenticated, Forbidden, PlotNotFound, PlotWithoutProduct),
)
async def create_plan(data: AdoptionPlanCreate, staff: StaffUser, session: SessionDep) -> AdoptionPlanRead:
    return AdoptionPlanRead.model_validate(await service.create_plan(session, staff, data))


@router.get(
    "/api/admin/adoption-plans",
    response_model=Page[AdoptionPlanRead],
    tags=STAFF_TAGS,
    summary="Every adoption plan, newest first",
    responses=problem_responses(NotAuthenticated, Forbidden),
)
async def list_adoption_plans_for_staff(
    staff: StaffUser, session: SessionDep, page: PageParamsDep
) -> Page[AdoptionPlanRead]:
    rows, total = await service.list_for_staff(session, page.offset, page.size)
    return Page(
        items=[AdoptionPlanRead.model_validate(p) for p in rows], total=total, page=page.page, size=page.size
    )
