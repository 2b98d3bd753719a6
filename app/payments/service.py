"""Payments: start paying an order, list an order's payments, store WeChat Pay's platform certificates, and
the sandbox gateway's page. What happens next lives beside this module: `outcomes` (a payment's outcome
and what follows it, exactly once), `notices` (gateway notices), `unmatched` (money that cannot pay an
order), `refunds` and `reconciliation` (the jobs that ask the gateways)."""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import session_scope, utcnow
from app.orders import service as orders_service
from app.orders.errors import InvalidOrderState
from app.orders.models import Order, OrderKind, OrderStatus
from app.payments import notices, providers, repository
from app.payments.errors import PaymentNotFound
from app.payments.models import Channel, Payment, PlatformCertificate
from app.payments.providers import sandbox, wechat
from app.payments.providers.wechat import FetchedCertificate, WechatProvider
from app.presales import payments as presale_payments
from app.users.models import User

# ---------------------------------------------------------------------------------------------- create


def _new_out_trade_no(order: Order) -> str:
    return f"{order.order_no}{secrets.randbelow(10**8):08d}"


async def create_payment(session: AsyncSession, user: User, order_id: int, channel: Channel) -> Payment:
    """Start paying one of my orders. A pending payment of the same channel and amount is reused. A pre-sale
    order is paid twice: its deposit, then (in the balance window) the rest (app.presales.payments)."""
    order = await orders_service.get_for_customer(session, user, order_id)
    if order.kind == OrderKind.presale:
        amount_fen = await presale_payments.amount_to_pay(session, order)
    elif order.status != OrderStatus.pending_payment:
        raise InvalidOrderState(f"Only an order waiting for payment can be paid; this one is {order.status}.")
    else:
        amount_fen = order.total_fen
    provider = providers.get(channel.value)
    existing = await repository.pending_for(session, order.id, channel.value)
    if existing is not None and existing.amount_fen == amount_fen:
        return existing
    payment = Payment(
        order_id=order.id,
        channel=channel.value,
        amount_fen=amount_fen,
        out_trade_no=_new_out_trade_no(order),
        pay_url="",
    )
    session.add(payment)
    await session.flush()
    payment.pay_url = await provider.create(payment, order)
    await session.flush()
    return payment


async def list_for_order(session: AsyncSession, user: User, order_id: int) -> list[Payment]:
    order = await orders_service.get_for_customer(session, user, order_id)
    return list(await repository.list_for_order(session, order.id))


# ---------------------------------------------------------------------------------------------- platform keys


async def fetch_platform_certificates() -> list[tuple[FetchedCertificate, bool]]:
    """`daoxiang payments fetch-certificates`: download and verify WeChat Pay's platform certificates and
    store the new ones; notices signed under any of them are accepted from then on, on every server within
    a minute (sooner when a notice names the new serial). Returns each current certificate and whether it
    was new."""
    provider = providers.PROVIDERS[Channel.wechat.value]
    assert isinstance(provider, WechatProvider)
    fetched = await provider.fetch_certificates()
    stored = []
    async with session_scope() as session:
        for cert in fetched:
            new = await repository.add_platform_certificate(
                session,
                PlatformCertificate(
                    channel=Channel.wechat.value,
                    serial=cert.serial,
                    certificate=cert.pem,
                    not_before=cert.not_before,
                    not_after=cert.not_after,
                ),
            )
            stored.append((cert, new))
    wechat.STORED.clear()
    return stored


# ---------------------------------------------------------------------------------------------- sandbox page


async def sandbox_payment(
    session: AsyncSession, payment_id: int, user_id: int | None
) -> tuple[Payment, Order]:
    """A sandbox payment of the signed-in buyer's order. Anyone else (anonymous, another customer, staff:
    they are not the payer) gets the same 404 as for a payment that does not exist."""
    payment = await repository.get(session, payment_id)
    if payment is None or payment.channel != Channel.sandbox or user_id is None:
        raise PaymentNotFound("No such sandbox payment.")
    order = await orders_service.get_or_raise(session, payment.order_id)
    if order.user_id != user_id:
        raise PaymentNotFound("No such sandbox payment.")
    providers.get(Channel.sandbox.value)
    return payment, order


async def sandbox_press(payment_id: int, result: str, user_id: int | None) -> int:
    """The sandbox page's button: build and sign the gateway's notification on the server and send it
    through the same path as `POST /api/payments/sandbox/notify`. Returns the order id."""
    async with session_scope() as session:
        payment, order = await sandbox_payment(session, payment_id, user_id)
    body = sandbox.notification_body(payment, order.order_no, result, utcnow())
    await notices.receive_notification(
        Channel.sandbox.value, body, {sandbox.SIGNATURE_HEADER: sandbox.sign(body)}
    )
    return order.id
