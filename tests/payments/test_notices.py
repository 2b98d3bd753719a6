"""Notices whose handling did not end the ordinary way: a copy left `received` by a server that died
(issue 17.8), correctly signed notices we cannot apply (issue 16.4) and refund notices (issue 16.7)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.config import get_settings
from app.db import session_scope, utcnow
from app.notifications.models import Notification
from app.payments import notices
from app.payments.models import UnmatchedPayment
from app.users.models import Role
from app.worker import run_job
from tests.orders.factories import customer, staff, stock_of
from tests.payments import gateway as gw
from tests.payments.factories import (
    events_of,
    notifications,
    order_to_pay,
    payment_row,
    refunds,
    sandbox_body,
    start_payment,
    state_of,
)
from tests.payments.providers_helpers import notice_for, yuan
from tests.payments.test_gateway_rules import alipay_sdk_notice
from tests.storefront.pages import csrf_from, log_in
from tests.users.factories import auth


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
        notices.after_verification = _die
        with pytest.raises(ServerDied):
            await notices.receive_notification(channel, body, headers, "203.0.113.9")
        notices.after_verification = None
        assert [n.outcome for n in await notifications()] == ["received"]

        await notices.receive_notification(channel, body, headers, "203.0.113.9")

        assert [(n.outcome, n.payment_id) for n in await notifications()] == [
            ("superseded", payment["id"]),
            ("applied", payment["id"]),
        ]
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")

    async def test_a_forged_copy_closes_nothing(self, client, gateways):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        body, headers = await notice_for("alipay", payment, order)
        notices.after_verification = _die
        with pytest.raises(ServerDied):
            await notices.receive_notification("alipay", body, headers, "203.0.113.9")
        notices.after_verification = None
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
        notices.after_verification = _die
        with pytest.raises(ServerDied):
            await notices.receive_notification(
                "sandbox", sandbox_body(payment, order), _signed(payment, order)
            )
        notices.after_verification = None
        async with session_scope() as session:
            await notices.purge_notifications(session, now=utcnow() + timedelta(hours=24))
        assert [n.outcome for n in await notifications()] == ["received"]  # the gateway may still resend
        async with session_scope() as session:
            await notices.purge_notifications(session, now=utcnow() + timedelta(hours=26))
        assert [n.outcome for n in await notifications()] == ["unanswered"]
        assert (await payment_row(payment["id"])).status == "pending"  # left to reconciliation


def _signed(payment: dict, order: dict) -> dict[str, str]:
    from app.payments.providers import sandbox

    return {sandbox.SIGNATURE_HEADER: sandbox.sign(sandbox_body(payment, order))}


async def _unmatched() -> list[UnmatchedPayment]:
    async with session_scope() as session:
        return list((await session.scalars(select(UnmatchedPayment).order_by(UnmatchedPayment.id))).all())


async def _staff_notifications() -> list[Notification]:
    async with session_scope() as session:
        stmt = select(Notification).where(Notification.event_type == "payment.unmatched")
        return list((await session.scalars(stmt.order_by(Notification.id))).all())


async def _post(client, channel: str, body: bytes, headers: dict[str, str]):
    return await client.post(f"/api/payments/{channel}/notify", content=body, headers=headers)


def _acknowledged(channel: str, response) -> bool:
    return (
        (response.status_code, response.text) == (200, "success")
        if channel == "alipay"
        else (response.status_code == 204)
    )


def _alipay_signed(params: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """Signed by python-alipay-sdk holding Alipay's key: the reference, not our own signer."""
    body = gw.form_body(alipay_sdk_notice(params)).encode()
    return body, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def _foreign(channel: str, out_trade_no: str, fen: int, **overrides) -> tuple[bytes, dict[str, str]]:
    if channel == "alipay":
        params = gw.alipay_notification(out_trade_no, yuan(fen))
        params.update(overrides)
        return _alipay_signed(params)
    body = gw.wechat_notification(gw.wechat_transaction(out_trade_no, fen, **overrides))
    return body, gw.wechat_headers(body)


@pytest.mark.parametrize("channel", ["alipay", "wechat"])
class TestSignedNoticesWeCannotApply:
    """16.4: a correctly signed notice we cannot apply is acknowledged (the gateway stops resending); the
    money goes back by itself when it is on a trade number of ours, otherwise staff are told."""

    async def test_another_sum_on_our_trade_number_is_refunded_once(self, client, gateways, channel):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], channel)
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        body, headers = await notice_for(channel, payment, order, amount_fen=1)

        for _ in range(2):  # the notice and a resend
            assert _acknowledged(channel, await _post(client, channel, body, headers))

        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "failed")
        [refund] = await refunds()
        assert (refund.amount_fen, refund.out_refund_no, refund.completes_order) == (
            1,
            f"R{out_trade_no}",
            False,
        )
        assert gateways.refund_calls == []  # answered at once; the job refunds
        assert await run_job("payments.retry_refunds") == 1
        assert gateways.refunds_paid == {f"R{out_trade_no}": 1}
        assert await run_job("payments.retry_refunds") == 0
        assert [n.outcome for n in await notifications()] == ["refund_due", "refund_due"]
        assert await _unmatched() == []
        # The buyer can still pay the order properly.
        again = await start_payment(client, user, order["id"], channel)
        assert again["id"] != payment["id"]
        assert len(await events_of("order.paid")) == 0

    async def test_an_unknown_trade_number_is_raised_to_staff_once(self, client, gateways, channel):
        merchant, admin = await staff(), await staff(Role.admin)
        buyer, _ = await customer()
        body, headers = _foreign(channel, "20261125999999990000000001", 5990)

        for _ in range(3):
            assert _acknowledged(channel, await _post(client, channel, body, headers))

        [unmatched] = await _unmatched()
        assert (unmatched.channel, unmatched.out_trade_no, unmatched.amount_fen, unmatched.reason) == (
            channel,
            "20261125999999990000000001",
            5990,
            "payment_not_found",
        )
        told = await _staff_notifications()
        assert sorted(n.user_id for n in told) == sorted([merchant.id, admin.id])  # not the customer
        assert all("¥59.90" in n.body and n.link == "/admin/payments/unmatched" for n in told)
        assert buyer.id not in {n.user_id for n in told}
        assert [n.outcome for n in await notifications()] == ["unmatched"] * 3
        assert gateways.refund_calls == []

    async def test_another_app_or_merchant_is_raised_to_staff_not_refunded(self, client, gateways, channel):
        await staff()
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], channel)
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        field = {"alipay": {"app_id": "2021999999999999"}, "wechat": {"mchid": "1900000999"}}[channel]
        body, headers = _foreign(channel, out_trade_no, order["total_fen"], **field)

        assert _acknowledged(channel, await _post(client, channel, body, headers))

        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")
        assert [u.reason for u in await _unmatched()] == ["app_id_mismatch"]
        assert await refunds() == []
        assert len(await _staff_notifications()) == 1

    async def test_another_sum_on_a_payment_that_paid_its_order_goes_to_staff(
        self, client, gateways, channel
    ):
        await staff()
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], channel)
        body, headers = await notice_for(channel, payment, order)
        assert _acknowledged(channel, await _post(client, channel, body, headers))
        odd, odd_headers = await notice_for(channel, payment, order, amount_fen=order["total_fen"] + 100)

        assert _acknowledged(channel, await _post(client, channel, odd, odd_headers))

        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")
        assert [u.reason for u in await _unmatched()] == ["amount_mismatch"]
        assert await refunds() == []

    async def test_a_trade_that_took_no_money_is_acknowledged_and_raises_nothing(
        self, client, gateways, channel
    ):
        await staff()
        state = {"alipay": {"trade_status": "TRADE_CLOSED"}, "wechat": {"trade_state": "CLOSED"}}[channel]
        body, headers = _foreign(channel, "20261125999999990000000002", 5990, **state)
        assert _acknowledged(channel, await _post(client, channel, body, headers))
        assert [(n.outcome, n.error_code) for n in await notifications()] == [
            ("ignored", "payment_not_found")
        ]
        assert await _unmatched() == []
        assert await _staff_notifications() == []

    async def test_a_forged_notice_is_still_refused_and_raises_nothing(self, client, gateways, channel):
        await staff()
        if channel == "alipay":
            params = gw.alipay_notification("20261125999999990000000003", "59.90", key=gw.ATTACKER)
            body, headers = (
                gw.form_body(params).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"},
            )
        else:
            body = gw.wechat_notification(gw.wechat_transaction("20261125999999990000000003", 5990))
            headers = gw.wechat_headers(body, key=gw.ATTACKER)
        response = await _post(client, channel, body, headers)
        assert response.status_code == 400
        assert await _unmatched() == [] and await _staff_notifications() == []


class TestAlipaySellerId:
    """16.4: with ALIPAY_SELLER_ID set, money paid to another Alipay account is not ours to apply."""

    async def test_another_seller_is_raised_to_staff_and_ours_pays(self, client, gateways, monkeypatch):
        monkeypatch.setattr(get_settings(), "alipay_seller_id", "2088000000000001")
        await staff()
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        params = gw.alipay_notification(out_trade_no, yuan(order["total_fen"]))

        other = await _post(client, "alipay", *_alipay_signed({**params, "seller_id": "2088999999999999"}))
        missing = await _post(client, "alipay", *_alipay_signed(params))
        assert (other.text, missing.text) == ("success", "success")
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")
        assert [u.reason for u in await _unmatched()] == ["seller_mismatch"]  # one row per trade

        ours = await _post(client, "alipay", *_alipay_signed({**params, "seller_id": "2088000000000001"}))
        assert ours.text == "success"
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")

    async def test_unset_it_is_not_checked(self, client, gateways):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        params = gw.alipay_notification(out_trade_no, yuan(order["total_fen"]))
        response = await _post(client, "alipay", *_alipay_signed({**params, "seller_id": "2088999999999999"}))
        assert response.text == "success"
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")


class TestReconciliationOfAnotherSum:
    async def test_a_queried_trade_with_another_sum_is_refunded_not_applied(
        self, client, gateways, monkeypatch
    ):
        monkeypatch.setattr(get_settings(), "payment_reconcile_after_minutes", 0)
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        gateways.alipay_trades[out_trade_no] = ("TRADE_SUCCESS", 1)
        assert await run_job("payments.reconcile") == 1
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "failed")
        assert await run_job("payments.retry_refunds") == 1
        assert gateways.refunds_paid == {f"R{out_trade_no}": 1}


class TestUnmatchedPage:
    async def _one_unmatched(self, client) -> None:
        body, headers = _foreign("alipay", "20261125999999990000000009", 5990)
        assert (await _post(client, "alipay", body, headers)).text == "success"

    async def test_staff_see_it_in_chinese_and_record_how_it_was_settled(self, client, gateways):
        clerk = await staff()
        await self._one_unmatched(client)
        await log_in(client, clerk)
        page = await client.get("/admin/payments/unmatched")
        assert page.status_code == 200
        assert "待处理款项" in page.text and "20261125999999990000000009" in page.text
        assert "¥59.90" in page.text and "本店没有这个商户订单号" in page.text
        [row] = await _unmatched()
        done = await client.post(
            f"/admin/payments/unmatched/{row.id}/resolve",
            data={"note": "已在商户平台原路退款", "csrf_token": csrf_from(page.text)},
        )
        assert done.status_code == 303
        [row] = await _unmatched()
        assert row.resolved_by == clerk.id and row.note == "已在商户平台原路退款"
        open_list = await client.get("/admin/payments/unmatched")
        assert "20261125999999990000000009" not in open_list.text
        settled = await client.get("/admin/payments/unmatched?show=resolved")
        assert "已在商户平台原路退款" in settled.text

    async def test_customers_and_visitors_do_not_get_the_page(self, client, gateways):
        await self._one_unmatched(client)
        anonymous = await client.get("/admin/payments/unmatched")
        assert anonymous.status_code in (303, 401, 403)
        buyer, _ = await customer()
        await log_in(client, buyer)
        response = await client.get("/admin/payments/unmatched")
        assert response.status_code in (303, 403, 404)
        assert "20261125999999990000000009" not in response.text


class TestRefundNotices:
    """16.7: refunds ask for a notice, and a refund notice completes the refund without waiting for the job."""

    async def _wechat_refund_in_progress(self, client, gateways):
        user, sku, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "wechat")
        body, headers = await notice_for("wechat", payment, order)
        assert (await _post(client, "wechat", body, headers)).status_code == 204
        await client.post(
            f"/api/orders/{order['id']}/refund-request", json={"reason": "不要了"}, headers=auth(user)
        )
        gateways.wechat_refund_status = "PROCESSING"
        approved = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=auth(await staff()))
        assert approved.json()["status"] == "refunding"
        [refund] = await refunds()
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        return sku, order, payment, refund, out_trade_no

    def _refund_notice(self, out_trade_no, refund, status="SUCCESS", **overrides):
        resource = {
            **gw.wechat_refund_resource(out_trade_no, refund.out_refund_no, refund.amount_fen, status),
            **overrides,
        }
        body = gw.wechat_notification(resource, event_type=f"REFUND.{status}")
        return body, gw.wechat_headers(body)

    async def test_the_refund_request_names_the_notify_url(self, client, gateways):
        await self._wechat_refund_in_progress(client, gateways)
        [request] = gateways.refund_requests
        assert request["notify_url"] == "http://testserver/api/payments/wechat/notify"

    async def test_refund_success_completes_the_order_at_once_and_only_once(self, client, gateways):
        sku, order, payment, refund, out_trade_no = await self._wechat_refund_in_progress(client, gateways)
        body, headers = self._refund_notice(out_trade_no, refund)

        first = await _post(client, "wechat", body, headers)
        resent = await _post(client, "wechat", body, gw.wechat_headers(body))

        assert (first.status_code, resent.status_code) == (204, 204)
        assert await state_of(order["id"], payment["id"]) == ("refunded", "refunded")
        assert await stock_of(sku.id) == 10
        assert [n.outcome for n in await notifications()][-2:] == ["applied", "duplicate"]
        assert len(await events_of("payment.refunded")) == 1
        assert len(await events_of("order.refunded")) == 1
        [done] = await refunds()
        assert (done.status, done.gateway_refund_no) == ("succeeded", "50000000382019052709732678859")
        calls = list(gateways.refund_calls) + list(gateways.refund_queries)
        assert await run_job("payments.retry_refunds") == 0
        assert list(gateways.refund_calls) + list(gateways.refund_queries) == calls  # nothing left to ask

    async def test_the_job_first_then_the_notice_changes_nothing_more(self, client, gateways):
        _, order, payment, refund, out_trade_no = await self._wechat_refund_in_progress(client, gateways)
        gateways.wechat_refund_status = "SUCCESS"
        assert await run_job("payments.retry_refunds") == 1
        body, headers = self._refund_notice(out_trade_no, refund)
        assert (await _post(client, "wechat", body, headers)).status_code == 204
        assert [n.outcome for n in await notifications()][-1] == "duplicate"
        assert len(await events_of("payment.refunded")) == 1

    @pytest.mark.parametrize("status", ["ABNORMAL", "CLOSED"])
    async def test_a_refund_that_did_not_go_through_stays_pending_and_says_why(
        self, client, gateways, status
    ):
        _, order, payment, refund, out_trade_no = await self._wechat_refund_in_progress(client, gateways)
        body, headers = self._refund_notice(out_trade_no, refund, status)
        assert (await _post(client, "wechat", body, headers)).status_code == 204
        assert await state_of(order["id"], payment["id"]) == ("refunding", "succeeded")
        [pending] = await refunds()
        assert pending.status == "pending" and status in (pending.last_error or "")

    @pytest.mark.parametrize(
        "variant", ["unknown_refund", "other_merchant", "other_amount", "forged", "other_apiv3_key"]
    )
    async def test_a_refund_notice_that_is_not_ours_completes_nothing(self, client, gateways, variant):
        _, order, payment, refund, out_trade_no = await self._wechat_refund_in_progress(client, gateways)
        resource = gw.wechat_refund_resource(out_trade_no, refund.out_refund_no, refund.amount_fen)
        key, apiv3 = gw.WECHAT_PLATFORM, gw.WECHAT_APIV3_KEY
        if variant == "unknown_refund":
            resource["out_refund_no"] = "R20261125000000000000000000"
        elif variant == "other_merchant":
            resource["mchid"] = "1900000999"
        elif variant == "other_amount":
            resource["amount"]["refund"] = 1
        elif variant == "forged":
            key = gw.ATTACKER
        else:
            apiv3 = "f" * 32
        body = gw.wechat_notification(resource, event_type="REFUND.SUCCESS", apiv3_key=apiv3)
        response = await _post(client, "wechat", body, gw.wechat_headers(body, key=key))
        # Signed by WeChat Pay: acknowledged (resending changes nothing); not signed: refused.
        assert response.status_code == (400 if variant in ("forged", "other_apiv3_key") else 204)
        assert await state_of(order["id"], payment["id"]) == ("refunding", "succeeded")
        assert len(await events_of("payment.refunded")) == 0

    async def test_an_alipay_refund_notice_completes_a_refund_whose_answer_was_lost(self, client, gateways):
        user, sku, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        body, headers = await notice_for("alipay", payment, order)
        assert (await _post(client, "alipay", body, headers)).text == "success"
        await client.post(
            f"/api/orders/{order['id']}/refund-request", json={"reason": "不要了"}, headers=auth(user)
        )
        gateways.refuse_refunds = True  # what we saw; Alipay refunded and tells us so
        approved = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=auth(await staff()))
        assert approved.json()["status"] == "refunding"
        [refund] = await refunds()
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        params = gw.alipay_notification(out_trade_no, yuan(order["total_fen"]), trade_status="TRADE_CLOSED")
        params.update(
            out_biz_no=refund.out_refund_no,
            refund_fee=yuan(order["total_fen"]),
            gmt_refund="2026-11-25 21:10:04.123",
        )
        response = await _post(client, "alipay", *_alipay_signed(params))
        assert response.text == "success"
        assert await state_of(order["id"], payment["id"]) == ("refunded", "refunded")
        assert await stock_of(sku.id) == 10
