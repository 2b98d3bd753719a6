"""Cancelling a subscription, with its refund through the ordinary refund path (app.payments.refunds): the
undelivered periods come back exactly, in fen (schedule.refund_fen: the prepaid total minus what was
delivered). Nothing delivered: the whole order is refunded as any order is (paid → refunding → refunded).
Some delivered: a refund of the undelivered part of the order's payment, the order staying paid for what
went out. As with staff approving a refund, the decision is committed first and the gateway is asked with no
transaction open; the refund job finishes it if the gateway is slow or down."""

from __future__ import annotations

from app.db import session_scope, utcnow
from app.orders import payment_moves
from app.orders import service as orders_service
from app.orders.state import Actor
from app.payments import outcomes, refunds
from app.payments import repository as payments_repository
from app.payments.models import RefundStatus
from app.subscriptions import repository, schedule, service
from app.subscriptions.errors import InvalidSubscriptionState
from app.subscriptions.models import SubscriptionStatus
from app.subscriptions.tasks import emit_cancelled
from app.users.models import User

S = SubscriptionStatus
REASON = "subscription cancelled: the undelivered periods refunded"


async def cancel(user: User, subscription_id: int) -> None:
    """Cancel the customer's subscription (404 when not theirs) and refund what was not delivered."""
    payment_id = None
    async with session_scope() as session:
        s = await service.get_for_customer(session, user, subscription_id, lock=True)
        actor = Actor.of(user)
        now = utcnow()
        if s.status == S.pending_payment:
            await orders_service.cancel_by_customer(session, user, s.order_id)
            refund = 0
        elif s.status in service.RUNNING:
            refund = schedule.refund_fen(s.total_fen, s.periods, s.delivered_periods)
        else:
            raise InvalidSubscriptionState(
                f"A subscription that is {s.status} cannot be cancelled.", subscription_status=s.status
            )
        await repository.move(
            session,
            s,
            (s.status,),
            status=S.cancelled.value,
            refund_fen=refund,
            next_delivery_on=None,
            waiting_since=None,
            cancelled_at=now,
            updated_at=now,
        )
        await emit_cancelled(session, s)
        if refund == 0:
            return
        whole = refund == s.total_fen
        if whole:
            await orders_service.begin_refund(session, s.order_id, actor=actor, reason=REASON)
        payment = await payments_repository.succeeded_for_order(session, s.order_id)
        if payment is None:
            # Nothing was paid through a gateway: there is no money to send back.
            if whole:
                await payment_moves.complete_refund(session, s.order_id, actor=actor, reason=REASON)
            return
        refund_row = await outcomes.open_refund(
            session, payment, reason=REASON, completes_order=whole, amount_fen=refund
        )
        if refund_row.status == RefundStatus.pending:
            payment_id = payment.id
    if payment_id is not None:
        await refunds.settle_refund(payment_id, actor=Actor.of(user))
