"""Offline payments (a company's bank transfer for a custom order): staff confirm the money arrived, and the
payment is recorded as any other (channel `bank_transfer`, the bank's reference as its trade number) and
applied like a gateway's success (app.payments.outcomes), exactly once; who confirmed it is in the event
`payment.offline_confirmed` and the audit log (with the staff member as actor). The order's row is locked first, so the pay
deadline's job cannot cancel it between the check and the payment. A refund of such a payment goes back by
bank transfer too: the refund job cannot send it (no gateway) and keeps it pending for staff."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit, events
from app.db import SessionDep, utcnow
from app.errors import Forbidden, NotAuthenticated
from app.kit.openapi import problem_responses
from app.kit.params import IdPath
from app.kit.schemas import InputModel
from app.orders import payment_moves
from app.orders import repository as orders_repository
from app.orders import service as orders_service
from app.orders.errors import AmountMismatch, InvalidOrderState, OrderNotFound
from app.orders.models import OrderKind, OrderStatus
from app.payments import repository
from app.payments.models import Payment
from app.users.dependencies import StaffUser
from app.users.models import User

BANK_TRANSFER = "bank_transfer"
# Kinds whose buyers may pay offline: companies buying custom boxes pay by transfer.
OFFLINE_KINDS = frozenset({OrderKind.custom.value})

router = APIRouter()


class OfflinePaymentCreate(InputModel):
    amount_fen: Annotated[StrictInt, Field(ge=1, le=2_000_000_000)] = Field(
        description="what arrived; must be the order's total_fen", examples=[1730000]
    )
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] = Field(
        description="the bank's transaction reference", examples=["CMB20261201-000123"]
    )


class OfflinePaymentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order_id: int
    channel: str
    amount_fen: int
    status: str
    gateway_trade_no: str | None
    confirmed_by: int


async def confirm(session: AsyncSession, staff: User, order_id: int, data: OfflinePaymentCreate) -> Payment:
    await orders_repository.lock_order(session, order_id)
    order = await orders_service.get_or_raise(session, order_id)
    if order.kind not in OFFLINE_KINDS:
        raise InvalidOrderState("Offline payments are accepted for custom orders only.")
    if order.status != OrderStatus.pending_payment:
        raise InvalidOrderState(f"Only an order waiting for payment can be paid; this one is {order.status}.")
    if data.amount_fen != order.total_fen:
        raise AmountMismatch(
            f"The transfer is {data.amount_fen} fen; the order is {order.total_fen}.",
            total_fen=order.total_fen,
        )
    now = utcnow()
    payment = Payment(
        order_id=order.id,
        channel=BANK_TRANSFER,
        amount_fen=data.amount_fen,
        out_trade_no=f"BT{order.order_no}{secrets.randbelow(10**6):06d}",
        pay_url="",
    )
    session.add(payment)
    await session.flush()
    # As outcomes.succeed, with an event of its own (payment.succeeded's published schema knows only the
    # gateways' channels) that says who confirmed the money.
    if not await repository.mark_succeeded(session, payment.id, now, data.reference, now):
        raise InvalidOrderState("The payment changed meanwhile; reload it.")
    await events.emit(
        session,
        "payment.offline_confirmed",
        {
            "payment_id": payment.id,
            "order_id": order.id,
            "order_no": order.order_no,
            "user_id": order.user_id,
            "amount_fen": payment.amount_fen,
            "reference": data.reference,
            "confirmed_by": staff.id,
            "paid_at": now.isoformat(),
        },
        subject=f"payment/{payment.id}",
    )
    applied = await payment_moves.mark_paid(session, order.id, amount_fen=payment.amount_fen, paid_at=now)
    if applied is not payment_moves.PaymentApplied.paid:
        raise InvalidOrderState("The order changed meanwhile; reload it.")
    await audit.record(
        session,
        staff,
        "payment.offline_confirmed",
        "payment",
        payment.id,
        {
            "order_id": {"after": order.id},
            "amount_fen": {"after": data.amount_fen},
            "reference": {"after": data.reference},
            "confirmed_by": {"after": staff.id},
        },
    )
    await session.refresh(payment)
    return payment


@router.post(
    "/api/admin/orders/{order_id}/offline-payment",
    status_code=status.HTTP_201_CREATED,
    response_model=OfflinePaymentRead,
    tags=["orders (staff)"],
    summary="Confirm a bank transfer for a custom order awaiting payment: the order is paid, and who confirmed "
    "it is audited",
    responses=problem_responses(
        NotAuthenticated, Forbidden, OrderNotFound, InvalidOrderState, AmountMismatch
    ),
)
async def confirm_offline_payment(
    order_id: IdPath, data: OfflinePaymentCreate, staff: StaffUser, session: SessionDep
) -> OfflinePaymentRead:
    payment = await confirm(session, staff, order_id, data)
    return OfflinePaymentRead.model_validate({**payment.__dict__, "confirmed_by": staff.id})
