from __future__ import annotations

from fastapi import APIRouter, Query, status

from app.checkout.request import IdempotencyKeyHeader
from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath
from app.orders.errors import (
    IdempotencyKeyReused,
    InvalidOrderState,
    QuantityLimitExceeded,
    RequestInProgress,
    SkuUnavailable,
    TooManyUnpaidOrders,
)
from app.subscriptions import cancel, service
from app.subscriptions.errors import InvalidSubscriptionState, SubscriptionNotFound
from app.subscriptions.models import SubscriptionStatus
from app.subscriptions.schemas import (
    SubscriptionCreate,
    SubscriptionRead,
    SubscriptionUpdate,
    UpcomingDelivery,
)
from app.users.dependencies import CurrentUser, StaffUser
from app.users.errors import AddressNeedsCorrection, AddressNotFound

router = APIRouter()
TAGS = ["subscriptions"]
STAFF_TAGS = ["subscriptions (staff)"]


@router.post(
    "/api/subscriptions",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionRead,
    tags=TAGS,
    summary="Subscribe: one order (kind subscription) prepays every period; paid, the deliveries begin that day",
    responses=problem_responses(
        NotAuthenticated,
        AddressNotFound,
        AddressNeedsCorrection,
        SkuUnavailable,
        QuantityLimitExceeded,
        TooManyUnpaidOrders,
        RequestInProgress,
        IdempotencyKeyReused,
    ),
)
async def subscribe(
    data: SubscriptionCreate,
    user: CurrentUser,
    session: SessionDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> SubscriptionRead:
    subscription = await service.subscribe(session, user, data, idempotency_key=idempotency_key)
    return await service.read(session, subscription)


@router.get(
    "/api/subscriptions",
    response_model=Page[SubscriptionRead],
    tags=TAGS,
    summary="My subscriptions, newest first, each with its deliveries and schedule",
    responses=problem_responses(NotAuthenticated),
)
async def list_my_subscriptions(
    user: CurrentUser, session: SessionDep, page: PageParamsDep
) -> Page[SubscriptionRead]:
    items, total = await service.list_for_customer(session, user, page.offset, page.size)
    return Page(items=items, total=total, page=page.page, size=page.size)


@router.get(
    "/api/subscriptions/{subscription_id}",
    response_model=SubscriptionRead,
    tags=TAGS,
    summary="One of my subscriptions, with its deliveries and schedule",
    responses=problem_responses(NotAuthenticated, SubscriptionNotFound),
)
async def get_my_subscription(
    subscription_id: IdPath, user: CurrentUser, session: SessionDep
) -> SubscriptionRead:
    return await service.read(session, await service.get_for_customer(session, user, subscription_id))


def _action(name: str, summary: str):  # type: ignore[no-untyped-def]
    return router.post(
        f"/api/subscriptions/{{subscription_id}}/{name}",
        response_model=SubscriptionRead,
        tags=TAGS,
        summary=summary,
        responses=problem_responses(NotAuthenticated, SubscriptionNotFound, InvalidSubscriptionState),
    )


@_action("pause", "Pause the deliveries (nothing is lost: every prepaid period is still delivered)")
async def pause(subscription_id: IdPath, user: CurrentUser, session: SessionDep) -> SubscriptionRead:
    return await service.read(session, await service.pause(session, user, subscription_id))


@_action("resume", "Resume a paused subscription: the next delivery is the next date on its calendar")
async def resume(subscription_id: IdPath, user: CurrentUser, session: SessionDep) -> SubscriptionRead:
    return await service.read(session, await service.resume(session, user, subscription_id))


@_action("skip", "Skip the next delivery: it (and those after it) move one interval later")
async def skip(subscription_id: IdPath, user: CurrentUser, session: SessionDep) -> SubscriptionRead:
    return await service.read(session, await service.skip(session, user, subscription_id))


@router.post(
    "/api/subscriptions/{subscription_id}/cancel",
    response_model=SubscriptionRead,
    tags=TAGS,
    summary="Cancel: the undelivered periods are refunded exactly (the prepaid total minus what was delivered)",
    responses=problem_responses(
        NotAuthenticated, SubscriptionNotFound, InvalidSubscriptionState, InvalidOrderState
    ),
)
async def cancel_subscription(
    subscription_id: IdPath, user: CurrentUser, session: SessionDep
) -> SubscriptionRead:
    await cancel.cancel(user, subscription_id)
    return await service.read(session, await service.get_for_customer(session, user, subscription_id))


@router.patch(
    "/api/subscriptions/{subscription_id}",
    response_model=SubscriptionRead,
    tags=TAGS,
    summary="Change where the next deliveries go",
    responses=problem_responses(
        NotAuthenticated, SubscriptionNotFound, InvalidSubscriptionState, AddressNotFound
    ),
)
async def update_subscription(
    subscription_id: IdPath, data: SubscriptionUpdate, user: CurrentUser, session: SessionDep
) -> SubscriptionRead:
    subscription = await service.change_address(session, user, subscription_id, data.address_id)
    return await service.read(session, subscription)


@router.get(
    "/api/admin/subscriptions",
    response_model=Page[SubscriptionRead],
    tags=STAFF_TAGS,
    summary="Every subscription, newest first (optionally of one status)",
    responses=problem_responses(NotAuthenticated, Forbidden),
)
async def list_subscriptions_for_staff(
    staff: StaffUser, session: SessionDep, page: PageParamsDep, status: SubscriptionStatus | None = None
) -> Page[SubscriptionRead]:
    items, total = await service.list_for_staff(session, status, page.offset, page.size)
    return Page(items=items, total=total, page=page.page, size=page.size)


@router.get(
    "/api/admin/subscriptions/upcoming",
    response_model=list[UpcomingDelivery],
    tags=STAFF_TAGS,
    summary="Deliveries to pack: due within `days` days, and any waiting for stock, soonest first",
    responses=problem_responses(NotAuthenticated, Forbidden),
)
async def upcoming(
    staff: StaffUser, session: SessionDep, days: int = Query(default=7, ge=0, le=60)
) -> list[UpcomingDelivery]:
    return await service.upcoming(session, days)
