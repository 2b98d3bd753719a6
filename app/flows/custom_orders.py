"""Accepting a custom request's quote (企业定制礼盒): the request's terms (app.gifts), the order of kind `custom`
placed through the one checkout (app.checkout.custom), and the request linked to it, in that order. Two
acceptances at once place one order: they share the acceptance's Idempotency-Key, and the link is one
conditional UPDATE (the second answers 409 already_accepted)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.checkout import custom as custom_checkout
from app.db import SessionDep
from app.errors import NotAuthenticated
from app.gifts import service as gifts_service
from app.gifts.errors import AlreadyAccepted, CustomRequestNotFound, InvalidRequestState, QuoteExpired
from app.kit.openapi import problem_responses
from app.kit.params import IdPath
from app.orders.errors import RequestInProgress, SkuUnavailable
from app.orders.schemas import OrderRead
from app.users.dependencies import CurrentUser
from app.users.models import User

router = APIRouter()


async def accept(session: AsyncSession, user: User, request_id: int) -> dict[str, Any]:
    """The order (its JSON form) of the accepted quote."""
    terms = await gifts_service.terms_to_accept(session, user, request_id)
    placed = await custom_checkout.place_custom_order(session, user, terms)
    await gifts_service.link_order(session, terms, placed.order["id"])
    return placed.order


@router.post(
    "/api/custom-requests/{request_id}/accept",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderRead,
    tags=["custom boxes"],
    summary="Accept the quote: an order of kind custom for unit_price_fen × quantity + setup_fee_fen, paid "
    "through the ordinary channels (or by bank transfer, confirmed by staff) within CUSTOM_PAY_TIMEOUT_MINUTES",
    responses=problem_responses(
        NotAuthenticated,
        CustomRequestNotFound,
        InvalidRequestState,
        QuoteExpired,
        AlreadyAccepted,
        RequestInProgress,
        SkuUnavailable,
    ),
)
async def accept_quote(request_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    return JSONResponse(await accept(session, user, request_id), status_code=status.HTTP_201_CREATED)
