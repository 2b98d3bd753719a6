"""POST /api/orders: checkout. app.checkout.fast_path answers the same requests without FastAPI's routing;
this route stays the documented interface and answers everything the fast path hands on."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse, Response

from app.checkout import service
from app.checkout.request import IdempotencyKeyHeader
from app.db import SessionDep
from app.errors import NotAuthenticated
from app.kit.openapi import problem_responses
from app.orders.errors import (
    CartEmpty,
    CouponNotFound,
    IdempotencyKeyReused,
    OutOfStock,
    QuantityLimitExceeded,
    RequestInProgress,
    SkuUnavailable,
    TooManyUnpaidOrders,
)
from app.orders.schemas import OrderCreate, OrderRead
from app.users.dependencies import CurrentPrincipal
from app.users.errors import AddressNeedsCorrection, AddressNotFound

router = APIRouter()
TAGS = ["orders"]


@router.post(
    "/api/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderRead,
    tags=TAGS,
    summary="Place an order (named items, or the whole cart); stock is reserved until pay_deadline",
    responses=problem_responses(
        NotAuthenticated,
        AddressNotFound,
        OutOfStock,
        SkuUnavailable,
        TooManyUnpaidOrders,
        AddressNeedsCorrection,
        RequestInProgress,
        QuantityLimitExceeded,
        CartEmpty,
        CouponNotFound,
        IdempotencyKeyReused,
    ),
)
async def place_order(
    data: OrderCreate,
    user: CurrentPrincipal,
    session: SessionDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    placed = await service.place_order(session, user, data, idempotency_key=idempotency_key)
    # A repeat with the same Idempotency-Key answers as the first request did: 201 and the same order.
    return JSONResponse(placed.order, status_code=status.HTTP_201_CREATED)
