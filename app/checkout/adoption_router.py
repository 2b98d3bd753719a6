"""Adoption's order routes: adopting shares (an order of kind adoption, through the checkout pipeline) and
drawing a delivery on a paid adoption (an order of kind adoption_delivery)."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse, Response

from app.adoptions.errors import (
    AdoptionKgExceeded,
    AdoptionKgNotWholeBags,
    AdoptionNotFound,
    AdoptionPlanNotFound,
    AdoptionSeasonOver,
    AdoptionSoldOut,
)
from app.adoptions.schemas import AdoptCreate, DeliveryCreate
from app.checkout import adoption, service
from app.checkout.request import IdempotencyKeyHeader
from app.db import SessionDep
from app.errors import NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.params import IdPath
from app.orders.errors import (
    IdempotencyKeyReused,
    OutOfStock,
    RequestInProgress,
    SkuUnavailable,
    TooManyUnpaidOrders,
)
from app.orders.schemas import OrderRead
from app.users.dependencies import CurrentPrincipal
from app.users.errors import AddressNeedsCorrection, AddressNotFound

router = APIRouter()
TAGS = ["adoption"]


@router.post(
    "/api/adoption-plans/{plan_id}/adopt",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderRead,
    tags=TAGS,
    summary="Adopt shares of a plot's season: an order of kind adoption at the plan's price per share",
    responses=problem_responses(
        NotAuthenticated,
        AdoptionPlanNotFound,
        AddressNotFound,
        AdoptionSoldOut,
        AdoptionSeasonOver,
        SkuUnavailable,
        TooManyUnpaidOrders,
        AddressNeedsCorrection,
        RequestInProgress,
        IdempotencyKeyReused,
    ),
)
async def adopt(
    plan_id: IdPath,
    data: AdoptCreate,
    user: CurrentPrincipal,
    session: SessionDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    placed = await service.place_adoption_order(session, user, plan_id, data, idempotency_key=idempotency_key)
    return JSONResponse(placed.order, status_code=status.HTTP_201_CREATED)


@router.post(
    "/api/users/me/adoptions/{adoption_id}/deliveries",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderRead,
    tags=TAGS,
    summary="Draw kilograms on a paid adoption: an order of kind adoption_delivery (total 0, paid) from the "
    "plot's batch",
    responses=problem_responses(
        NotAuthenticated,
        AdoptionNotFound,
        AddressNotFound,
        AdoptionKgExceeded,
        AdoptionKgNotWholeBags,
        AdoptionSeasonOver,
        AddressNeedsCorrection,
        SkuUnavailable,
        OutOfStock,
    ),
)
async def request_delivery(
    adoption_id: IdPath, data: DeliveryCreate, user: CurrentPrincipal, session: SessionDep
) -> OrderRead:
    return OrderRead.model_validate(await adoption.request_delivery(session, user, adoption_id, data))
