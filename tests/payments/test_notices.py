"""Notices whose handling did not end the ordinary way: a copy left `received` by a server that died
(issue 17.8), correctly signed notices we cannot apply (issue 16.4) and refund notices (issue 16.7)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import session_scope, utcnow
from app.payments import service
from tests.payments.factories import (
    notifications,
    order_to_pay,
    payment_row,
    sandbox_body,
    start_payment,
    state_of,
)
from tests.payments.providers_helpers import notice_for


class ServerDied(Exception):
    """Stands for kill -9 between verifying a notice and recording its outcome."""


async def _die(_payment_id: int) -> None:
    raise ServerDied


class TestHalfRecordedNotices:
    """17.8: a notice logged as `received` by a server that then died is closed by the gateway's retry."""

    @pytest.mark.parametrize("channel", ["alipay", "wechat", "sandbox"])
    async def test_the_retry_closes_the_copy_a_dead_server_left_received(self, client, gateways, channel):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], channel)
        body, headers = await notice_for(channel, payment, order)
        service.after_verification = _die
        with pytest.raises(ServerDied):
            await service.receive_notification(channel, body, headers, "203.0.113.9")
        service.after_verification = None
        assert [n.outcome for n in await notifications()] == ["received"]

        await service.receive_notification(channel, body, headers, "203.0.113.9")

        assert [(n.outcome, n.payment_id) for n in await notifications()] == [
            ("superseded", payment["id"]),
            ("applied", payment["id"]),
        ]
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")

    async def test_a_forged_copy_closes_nothing(self, client, gateways):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        body, headers = await notice_for("alipay", payment, order)
        service.after_verification = _die
        with pytest.raises(ServerDied):
            await service.receive_notification("alipay", body, headers, "203.0.113.9")
        service.after_verification = None
        forged = body.replace(b"sign=", b"sign=AAAA", 1)
        response = await client.post(
            "/api/payments/alipay/notify",
            content=forged,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.text == "failure"
        assert [n.outcome for n in await notifications()] == ["received", "rejected"]

    async def test_a_copy_no_retry_closed_is_given_up_once_the_gateways_stop_resending(self, client):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        service.after_verification = _die
        with pytest.raises(ServerDied):
            await service.receive_notification(
                "sandbox", sandbox_body(payment, order), _signed(payment, order)
            )
        service.after_verification = None
        async with session_scope() as session:
            await service.purge_notifications(session, now=utcnow() + timedelta(hours=24))
        assert [n.outcome for n in await notifications()] == ["received"]  # the gateway may still resend
        async with session_scope() as session:
            await service.purge_notifications(session, now=utcnow() + timedelta(hours=26))
        assert [n.outcome for n in await notifications()] == ["unanswered"]
        assert (await payment_row(payment["id"])).status == "pending"  # left to reconciliation


def _signed(payment: dict, order: dict) -> dict[str, str]:
    from app.payments.providers import sandbox

    return {sandbox.SIGNATURE_HEADER: sandbox.sign(sandbox_body(payment, order))}
