from __future__ import annotations

from fastapi import APIRouter

from app.cart import service
from app.cart.errors import CartItemNotFound, OutOfStock, SkuNotFound
from app.cart.schemas import CartItemSet, CartRead
from app.db import SessionDep
from app.errors import NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.params import IdPath
from app.users.dependencies import CurrentUser

router = APIRouter()
TAGS = ["cart"]


@router.get(
    "/api/cart",
    response_model=CartRead,
    tags=TAGS,
    summary="My cart with live prices and stock; unavailable lines are marked",
    responses=problem_responses(NotAuthenticated, validation=False),
)
async def get_cart(user: CurrentUser, session: SessionDep) -> CartRead:
    return await service.get_cart(session, user)


@router.put(
    "/api/cart/items/{sku_id}",
    response_model=CartRead,
    tags=TAGS,
    summary="Set how many of a SKU are in my cart (capped at the stock and the per-order limit)",
    responses=problem_responses(NotAuthenticated, SkuNotFound, OutOfStock),
)
async def set_item(sku_id: IdPath, data: CartItemSet, user: CurrentUser, session: SessionDep) -> CartRead:
    return await service.set_quantity(session, user, sku_id, data.quantity)


@router.delete(
    "/api/cart/items/{sku_id}",
    response_model=CartRead,
    tags=TAGS,
    summary="Remove a SKU from my cart",
    responses=problem_responses(NotAuthenticated, CartItemNotFound),
)
async def remove_item(sku_id: IdPath, user: CurrentUser, session: SessionDep) -> CartRead:
    return await service.remove_item(session, user, sku_id)
