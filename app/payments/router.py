from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.db import SessionDep
from app.errors import AppError, NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.params import IdPath
from app.orders.errors import InvalidOrderState, OrderNotFound
from app.payments import service
from app.payments.errors import (
    AmountMismatch,
    BadNotification,
    BadSignature,
    ChannelNotConfigured,
    GatewayError,
    PaymentNotFound,
)
from app.payments.models import Channel
from app.payments.schemas import NotifyAck, PaymentCreate, PaymentRead
from app.users.dependencies import CurrentUser

router = APIRouter()
TAGS = ["payments"]
CALLBACK_TAGS = ["payment callbacks"]


@router.post(
    "/api/orders/{order_id}/payments",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentRead,
    tags=TAGS,
    summary="Start paying my unpaid order through a channel; open pay_url to pay",
    responses=problem_responses(
        NotAuthenticated, OrderNotFound, InvalidOrderState, ChannelNotConfigured, GatewayError
    ),
)
async def create_payment(
    order_id: IdPath, data: PaymentCreate, user: CurrentUser, session: SessionDep
) -> PaymentRead:
    payment = await service.create_payment(session, user, order_id, data.channel)
    return PaymentRead.model_validate(payment)


@router.get(
    "/api/orders/{order_id}/payments",
    response_model=list[PaymentRead],
    tags=TAGS,
    summary="The payments of my order, oldest first",
    responses=problem_responses(NotAuthenticated, OrderNotFound, validation=False),
)
async def list_payments(order_id: IdPath, user: CurrentUser, session: SessionDep) -> list[PaymentRead]:
    return [PaymentRead.model_validate(p) for p in await service.list_for_order(session, user, order_id)]


@router.post(
    "/api/payments/sandbox/notify",
    response_model=NotifyAck,
    tags=CALLBACK_TAGS,
    summary="Sandbox gateway callback: JSON signed with X-Sandbox-Signature (hex HMAC-SHA256 of the body)",
    responses=problem_responses(
        BadSignature, AmountMismatch, BadNotification, PaymentNotFound, ChannelNotConfigured, validation=False
    ),
)
async def sandbox_notify(request: Request) -> NotifyAck:
    # The raw body: the signature covers these exact bytes.
    await service.receive_notification(Channel.sandbox.value, await request.body(), request.headers)
    return NotifyAck()


@router.post(
    "/api/payments/alipay/notify",
    tags=CALLBACK_TAGS,
    summary="Alipay asynchronous notification (form, RSA2); answers the text success or failure",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"example": "success"}}}, 400: {"description": "failure"}},
)
async def alipay_notify(request: Request) -> Response:
    try:
        await service.receive_notification(Channel.alipay.value, await request.body(), request.headers)
    except AppError:
        return PlainTextResponse("failure", status_code=400)
    return PlainTextResponse("success")


@router.post(
    "/api/payments/wechat/notify",
    tags=CALLBACK_TAGS,
    summary="WeChat Pay v3 notification; 204 when taken, 4xx with {code: FAIL, message} otherwise",
    status_code=204,
    responses={
        400: {"description": 'Not accepted: {"code": "FAIL", "message": "..."}'},
        404: {"description": 'Unknown payment: {"code": "FAIL", "message": "..."}'},
        422: {"description": 'WeChat Pay is not configured: {"code": "FAIL", "message": "..."}'},
    },
)
async def wechat_notify(request: Request) -> Response:
    try:
        await service.receive_notification(Channel.wechat.value, await request.body(), request.headers)
    except AppError as exc:
        return JSONResponse(
            {"code": "FAIL", "message": exc.detail},
            status_code=exc.status_code if exc.status_code < 500 else 500,
        )
    return Response(status_code=204)
