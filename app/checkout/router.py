"""Checkout's routes: POST /api/orders (app.checkout.fast_path answers the same requests without FastAPI's
routing; this route stays the documented interface and answers everything the fast path hands on) and
POST /api/flash-sales/{id}/orders (an order of kind flash_sale, through the same pipeline) and
POST /api/presales/{id}/orders (kind presale, the same way)."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse, Response

from app.checkout import service
from app.checkout.request import IdempotencyKeyHeader
from app.db import SessionDep
from app.errors import NotAuthenticated
from app.flash_sales.errors import FlashSaleLimitReached, FlashSaleNotActive, FlashSaleNotFound, SoldOut
from app.flash_sales.schemas import FlashSaleOrderCreate
from app.kit.openapi import problem_responses
from app.kit.params import IdPath
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
from app.presales.errors import PresaleNotFound, PresaleNotOpen, PresaleSoldOut
from app.presales.schemas import PresaleOrderCreate, PresaleOrderPlaced
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


@router.post(
    "/api/flash-sales/{sale_id}/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderRead,
    tags=["flash sales"],
    summary="Buy from a flash sale: an order of kind flash_sale at the sale's price, to pay within "
    "FLASH_SALE_PAY_TIMEOUT_MINUTES",
    responses=problem_responses(
        NotAuthenticated,
        FlashSaleNotFound,
        AddressNotFound,
        SoldOut,
        FlashSaleLimitReached,
        FlashSaleNotActive,
        SkuUnavailable,
        TooManyUnpaidOrders,
        AddressNeedsCorrection,
        RequestInProgress,
        QuantityLimitExceeded,
        IdempotencyKeyReused,
    ),
)
async def place_flash_sale_order(
    sale_id: IdPath,
    data: FlashSaleOrderCreate,
    user: CurrentPrincipal,
    session: SessionDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    placed = await service.place_flash_sale_order(
        session, user, sale_id, data, idempotency_key=idempotency_key
    )
    return JSONResponse(placed.order, status_code=status.HTTP_201_CREATED)


@router.post(
    "/api/presales/{presale_id}/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=PresaleOrderPlaced,
    tags=["pre-sales"],
    summary="Order from a pre-sale: an order of kind presale, paid as a deposit now and the balance later "
    "(answer: the order with presale_id, deposit_fen, balance_fen, amount_due_fen and stage)",
    responses=problem_responses(
        NotAuthenticated,
        PresaleNotFound,
        AddressNotFound,
        PresaleSoldOut,
        PresaleNotOpen,
        SkuUnavailable,
        TooManyUnpaidOrders,
        AddressNeedsCorrection,
        RequestInProgress,
        QuantityLimitExceeded,
        IdempotencyKeyReused,
    ),
)
async def place_presale_order(
    presale_id: IdPath,
    data: PresaleOrderCreate,
    user: CurrentPrincipal,
    session: SessionDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    placed = await service.place_presale_order(
        session, user, presale_id, data, idempotency_key=idempotency_key
    )
    return JSONResponse(placed.order, status_code=status.HTTP_201_CREATED)
