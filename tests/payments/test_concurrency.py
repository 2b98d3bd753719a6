"""Exactly once under real concurrency (MariaDB: real row locks, one connection per request)."""

from __future__ import annotations

import asyncio

import pytest

from app.worker import run_job
from tests.orders.factories import stock_of
from tests.payments import gateway as gw
from tests.payments.factories import (
    events_of,
    history_count,
    notifications,
    order_to_pay,
    payment_row,
    sandbox_body,
    sandbox_notify,
    start_payment,
    state_of,
)
from tests.users.factories import auth

pytestmark = pytest.mark.mysql_only


class TestConcurrentReplays:
    async def test_twenty_concurrent_replays_make_exactly_one_change(self, client):
        user, sku, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        body = sandbox_body(payment, order)
        responses = await asyncio.gather(*(sandbox_notify(client, body) for _ in range(20)))
        assert [r.status_code for r in responses] == [200] * 20
        assert all(r.json() == {"result": "success"} for r in responses)
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")
        assert len(await events_of("payment.succeeded")) == 1
        assert len(await events_of("order.paid")) == 1
        assert await history_count(order["id"], "paid") == 1
        outcomes = sorted(n.outcome for n in await notifications())
        assert outcomes == ["applied"] + ["duplicate"] * 19
        assert await stock_of(sku.id) == 8

    async def test_twenty_alipay_replays_racing_the_reconciliation_job(self, client, gateways, monkeypatch):
        from app.config import get_settings

        monkeypatch.setattr(get_settings(), "payment_reconcile_after_minutes", 0)
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        fen = order["total_fen"]
        params = gw.alipay_notification(out_trade_no, gw.yuan(fen))
        notify = [
            client.post(
                "/api/payments/alipay/notify",
                content=gw.form_body(params),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            for _ in range(20)
        ]
        results = await asyncio.gather(*notify, run_job("payments.reconcile"), run_job("payments.reconcile"))
        assert [r.text for r in results[:20]] == ["success"] * 20
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")
        assert len(await events_of("payment.succeeded")) == 1
        assert len(await events_of("order.paid")) == 1


class TestPaymentRacingCancel:
    async def test_concurrent_payment_and_cancel_end_consistent(self, client):
        """No injection here: both really race. Either the order is paid (stock still taken) or it was
        cancelled first and the payment refunded (stock returned once)."""
        for _ in range(5):
            user, sku, order = await order_to_pay(client)
            payment = await start_payment(client, user, order["id"])
            paid, cancel = await asyncio.gather(
                sandbox_notify(client, sandbox_body(payment, order)),
                client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user)),
            )
            assert paid.status_code == 200
            await run_job("payments.retry_refunds")  # a late payment is refunded by the job
            end = await state_of(order["id"], payment["id"])
            if end == ("paid", "succeeded"):
                assert cancel.status_code == 409
                assert await stock_of(sku.id) == 8
            else:
                assert end == ("refunded", "refunded")
                assert cancel.status_code == 200
                assert await stock_of(sku.id) == 10


class TestConcurrentNoticesWeCannotApply:
    """16.4 and 16.7 under real concurrency: copies of one notice racing each other or the refund job."""

    async def test_twenty_copies_of_another_sum_open_one_refund(self, client, gateways):
        from tests.payments.factories import refunds

        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "wechat")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        body = gw.wechat_notification(gw.wechat_transaction(out_trade_no, 1))
        responses = await asyncio.gather(
            *(
                client.post("/api/payments/wechat/notify", content=body, headers=gw.wechat_headers(body))
                for _ in range(20)
            )
        )
        assert [r.status_code for r in responses] == [204] * 20
        [refund] = await refunds()
        assert refund.amount_fen == 1
        assert len(await events_of("payment.failed")) == 1
        await asyncio.gather(run_job("payments.retry_refunds"), run_job("payments.retry_refunds"))
        assert gateways.refunds_paid == {refund.out_refund_no: 1}

    async def test_twenty_copies_of_an_unknown_trade_raise_it_once(self, client, gateways):
        from sqlalchemy import func, select

        from app.db import session_scope
        from app.notifications.models import Notification
        from app.payments.models import UnmatchedPayment
        from tests.orders.factories import staff

        await staff()
        params = gw.alipay_notification("20261125999999990000000077", "59.90")
        responses = await asyncio.gather(
            *(
                client.post(
                    "/api/payments/alipay/notify",
                    content=gw.form_body(params),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                for _ in range(20)
            )
        )
        assert [r.text for r in responses] == ["success"] * 20
        async with session_scope() as session:
            assert await session.scalar(select(func.count()).select_from(UnmatchedPayment)) == 1
            assert await session.scalar(select(func.count()).select_from(Notification)) == 1

    async def test_refund_notices_racing_the_refund_job_finish_the_refund_once(self, client, gateways):
        from tests.orders.factories import staff
        from tests.payments.factories import refunds

        user, sku, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "wechat")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        body = gw.wechat_notification(gw.wechat_transaction(out_trade_no, order["total_fen"]))
        await client.post("/api/payments/wechat/notify", content=body, headers=gw.wechat_headers(body))
        await client.post(
            f"/api/orders/{order['id']}/refund-request", json={"reason": "不要了"}, headers=auth(user)
        )
        gateways.wechat_refund_status = "PROCESSING"
        await client.post(f"/api/admin/orders/{order['id']}/refund", headers=auth(await staff()))
        gateways.wechat_refund_status = "SUCCESS"
        [refund] = await refunds()
        resource = gw.wechat_refund_resource(out_trade_no, refund.out_refund_no, refund.amount_fen)
        notice = gw.wechat_notification(resource, event_type="REFUND.SUCCESS")
        posts = [
            client.post("/api/payments/wechat/notify", content=notice, headers=gw.wechat_headers(notice))
            for _ in range(10)
        ]
        results = await asyncio.gather(
            *posts, run_job("payments.retry_refunds"), run_job("payments.retry_refunds")
        )
        assert [r.status_code for r in results[:10]] == [204] * 10
        assert await state_of(order["id"], payment["id"]) == ("refunded", "refunded")
        assert len(await events_of("payment.refunded")) == 1
        assert len(await events_of("order.refunded")) == 1
        assert await history_count(order["id"], "refunded") == 1
        assert await stock_of(sku.id) == 10
