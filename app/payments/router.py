from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.db import SessionDep
from app.errors import AppError, Forbidden, NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.params import IdPath
from app.orders import service as orders_service
from app.orders import staff as orders_staff
from app.orders.errors import InvalidOrderState, OrderNotFound
from app.orders.schemas import AdminOrderRead
from app.payments import notices, refunds, service
from app.payments.errors import (
    AmountMismatch,
    BadNotification,
    BadSignature,
    ChannelNotConfigured,
    GatewayError,
    NotificationTooLarge,
    PaymentNotFound,
    TooManyNotifications,
)
from app.payments.models import Channel
from app.payments.schemas import NotifyAck, PaymentCreate, PaymentRead
from app.users.dependencies import ClientIP, CurrentUser, StaffUser

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
    "/api/admin/orders/{order_id}/refund",
    response_model=AdminOrderRead,
    tags=["orders (staff)"],
    summary="Approve a refund request; stock goes back only when nothing was shipped",
    responses=problem_responses(
        NotAuthenticated, Forbidden, OrderNotFound, InvalidOrderState, validation=False
    ),
)
async def approve_refund(order_id: IdPath, staff: StaffUser, session: SessionDep) -> AdminOrderRead:
    await refunds.approve_refund(staff, order_id)
    order = await orders_service.get_or_raise(session, order_id)
    return AdminOrderRead(
        **orders_service.to_read(order).model_dump(),
        user_id=order.user_id,
        buyer_phone=await orders_staff.buyer_phone(session, order),
    )


async def _capped_body(request: Request) -> bytes:
    """The raw body (the signature covers these exact bytes), refused past NOTIFY_MAX_BYTES whether the
    length is announced or not."""
    limit = notices.NOTIFY_MAX_BYTES
    declared = request.headers.get("content-length", "")
    if len(declared) > 12 or (declared.isascii() and declared.isdigit() and int(declared) > limit):
        raise NotificationTooLarge(f"A payment notification is at most {limit} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise NotificationTooLarge(f"A payment notification is at most {limit} bytes.")
    return bytes(body)


async def _receive(channel: Channel, request: Request, client_ip: str) -> None:
    await notices.receive_notification(channel.value, await _capped_body(request), request.headers, client_ip)


def _gateway_error_headers(exc: AppError) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k.lower() == "retry-after"}


@router.post(
    "/api/payments/sandbox/notify",
    response_model=NotifyAck,
    tags=CALLBACK_TAGS,
    summary="Sandbox gateway callback: JSON signed with X-Sandbox-Signature (hex HMAC-SHA256 of the body)",
    responses=problem_responses(
        BadSignature,
        AmountMismatch,
        BadNotification,
        PaymentNotFound,
        NotificationTooLarge,
        ChannelNotConfigured,
        TooManyNotifications,
        validation=False,
    ),
)
async def sandbox_notify(request: Request, client_ip: ClientIP) -> NotifyAck:
    await _receive(Channel.sandbox, request, client_ip)
    return NotifyAck()


@router.post(
    "/api/payments/alipay/notify",
    tags=CALLBACK_TAGS,
    summary="Alipay asynchronous notification (form, RSA2); answers the text success or failure",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"example": "success"}}},
        400: {"description": "failure (not accepted, or Alipay is not configured)"},
        413: {"description": "failure (body over 64 KiB)"},
        429: {"description": "failure (too many notifications from this address; see Retry-After)"},
    },
)
async def alipay_notify(request: Request, client_ip: ClientIP) -> Response:
    try:
        await _receive(Channel.alipay, request, client_ip)
    except AppError as exc:
        status_code = exc.status_code if exc.status_code in (413, 429) else 400
        return PlainTextResponse("failure", status_code=status_code, headers=_gateway_error_headers(exc))
    return PlainTextResponse("success")


@router.post(
    "/api/payments/wechat/notify",
    tags=CALLBACK_TAGS,
    summary="WeChat Pay v3 notification; 204 when taken, 4xx with {code: FAIL, message} otherwise",
    status_code=204,
    responses={
        400: {"description": 'Not accepted: {"code": "FAIL", "message": "..."}'},
        404: {"description": 'Unknown payment: {"code": "FAIL", "message": "..."}'},
        413: {"description": 'Body over 64 KiB: {"code": "FAIL", "message": "..."}'},
        422: {"description": 'WeChat Pay is not configured: {"code": "FAIL", "message": "..."}'},
        429: {"description": 'Too many notifications from this address: {"code": "FAIL", "message": "..."}'},
    },
)
async def wechat_notify(request: Request, client_ip: ClientIP) -> Response:
    try:
        await _receive(Channel.wechat, request, client_ip)
    except AppError as exc:
        return JSONResponse(
            {"code": "FAIL", "message": exc.detail},
            status_code=exc.status_code if exc.status_code < 500 else 500,
            headers=_gateway_error_headers(exc),
        )
    return Response(status_code=204)
