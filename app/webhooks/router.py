"""Webhooks (admin only): subscribe a URL to event types, list and disable, read the delivery log, redeliver."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.pagination import Page, PageParamsDep
from app.kit.params import IdPath
from app.users.dependencies import AdminUser
from app.webhooks import service
from app.webhooks.errors import WebhookDeliveryNotFound, WebhookDisabled, WebhookNotFound, WebhookUrlRefused
from app.webhooks.schemas import DeliveryRead, RedeliveryRead, WebhookCreate, WebhookCreated, WebhookRead

router = APIRouter()
TAGS = ["webhooks (staff)"]


@router.post(
    "/api/admin/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    tags=TAGS,
    summary="Subscribe a URL to event types; the answer holds the signing secret (shown only here)",
    responses=problem_responses(NotAuthenticated, Forbidden, WebhookUrlRefused),
)
async def create_webhook(data: WebhookCreate, admin: AdminUser, session: SessionDep) -> WebhookCreated:
    return await service.create(session, data, admin)


@router.get(
    "/api/admin/webhooks",
    response_model=Page[WebhookRead],
    tags=TAGS,
    summary="Every webhook, newest first (secrets are not shown again)",
    responses=problem_responses(NotAuthenticated, Forbidden),
)
async def list_webhooks(admin: AdminUser, session: SessionDep, page: PageParamsDep) -> Page[WebhookRead]:
    return await service.list_all(session, page)


@router.post(
    "/api/admin/webhooks/{webhook_id}/disable",
    response_model=WebhookRead,
    tags=TAGS,
    summary="Stop a webhook: nothing more is sent, waiting messages are cancelled",
    responses=problem_responses(NotAuthenticated, Forbidden, WebhookNotFound, validation=False),
)
async def disable_webhook(webhook_id: IdPath, admin: AdminUser, session: SessionDep) -> WebhookRead:
    return await service.disable(session, webhook_id, admin)


@router.get(
    "/api/admin/webhooks/{webhook_id}/deliveries",
    response_model=Page[DeliveryRead],
    tags=TAGS,
    summary="The delivery log: one entry per attempt (status code, error, duration), newest first",
    responses=problem_responses(NotAuthenticated, Forbidden, WebhookNotFound),
)
async def list_webhook_deliveries(
    webhook_id: IdPath, admin: AdminUser, session: SessionDep, page: PageParamsDep
) -> Page[DeliveryRead]:
    return await service.list_deliveries(session, webhook_id, page)


@router.post(
    "/api/admin/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RedeliveryRead,
    tags=TAGS,
    summary="Send a delivery's event again at the worker's next run, with a fresh retry window",
    responses=problem_responses(
        NotAuthenticated,
        Forbidden,
        WebhookNotFound,
        WebhookDeliveryNotFound,
        WebhookDisabled,
        validation=False,
    ),
)
async def redeliver_webhook_delivery(
    webhook_id: IdPath, delivery_id: IdPath, admin: AdminUser, session: SessionDep
) -> RedeliveryRead:
    return await service.redeliver(session, webhook_id, delivery_id, admin)
