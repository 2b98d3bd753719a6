"""Payments over HTTP: creating a payment, the three channels' notifications, exactly once, late payments,
racing a cancellation, staff refunds, reconciliation and the whole sandbox purchase."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import create_engine, make_url, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from app.config import get_settings
from app.db import session_scope
from app.payments import notices
from app.payments.models import Payment
from app.payments.providers import keys, sandbox
from app.payments.providers.alipay import sign_content
from app.worker import run_job
from tests.orders.factories import customer, staff, stock_of
from tests.payments import gateway as gw
from tests.payments.factories import (
    events_of,
    history_count,
    notifications,
    order_row,
    order_to_pay,
    payment_row,
    refunds,
    sandbox_body,
    sandbox_notify,
    start_payment,
    state_of,
)
from tests.storefront.pages import csrf_from, log_in
from tests.users.factories import auth


async def _alipay_notify(client, params: dict[str, str]):
    return await client.post(
        "/api/payments/alipay/notify",
        content=gw.form_body(params),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )


async def _wechat_notify(client, body: bytes, headers: dict[str, str]):
    return await client.post("/api/payments/wechat/notify", content=body, headers=headers)


async def _alipay_payment(client):
    user, sku, order = await order_to_pay(client)
    payment = await start_payment(client, user, order["id"], "alipay")
    out_trade_no = (await payment_row(payment["id"])).out_trade_no
    return user, sku, order, payment, out_trade_no


async def _wechat_payment(client):
    user, sku, order = await order_to_pay(client)
    payment = await start_payment(client, user, order["id"], "wechat")
    out_trade_no = (await payment_row(payment["id"])).out_trade_no
    return user, sku, order, payment, out_trade_no


class TestCreatePayment:
    async def test_a_sandbox_payment_is_pending_with_a_pay_url(self, client):
        user, _, order = await order_to_pay(client)
        response = await client.post(
            f"/api/orders/{order['id']}/payments", json={"channel": "sandbox"}, headers=auth(user)
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body == {
            "id": body["id"],
            "order_id": order["id"],
            "channel": "sandbox",
            "amount_fen": order["total_fen"],
            "status": "pending",
            "pay_url": f"http://testserver/pay/sandbox/{body['id']}",
        }

    async def test_asking_again_reuses_the_pending_payment(self, client):
        user, _, order = await order_to_pay(client)
        first = await start_payment(client, user, order["id"])
        assert (await start_payment(client, user, order["id"]))["id"] == first["id"]

    async def test_another_customers_order_is_404(self, client):
        _, _, order = await order_to_pay(client)
        stranger, _ = await customer()
        response = await client.post(
            f"/api/orders/{order['id']}/payments", json={"channel": "sandbox"}, headers=auth(stranger)
        )
        assert response.status_code == 404
        assert response.json()["code"] == "order_not_found"

    async def test_anonymous_is_401(self, client):
        _, _, order = await order_to_pay(client)
        response = await client.post(f"/api/orders/{order['id']}/payments", json={"channel": "sandbox"})
        assert response.status_code == 401

    async def test_an_order_not_waiting_for_payment_is_409(self, client):
        user, _, order = await order_to_pay(client)
        await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))
        response = await client.post(
            f"/api/orders/{order['id']}/payments", json={"channel": "sandbox"}, headers=auth(user)
        )
        assert response.status_code == 409
        assert response.json()["code"] == "invalid_order_state"

    @pytest.mark.parametrize("body", [{"channel": "paypal"}, {"channel": "sandbox", "amount_fen": 1}, {}])
    async def test_bad_input_is_422(self, client, body):
        user, _, order = await order_to_pay(client)
        response = await client.post(f"/api/orders/{order['id']}/payments", json=body, headers=auth(user))
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"

    @pytest.mark.parametrize("channel", ["alipay", "wechat"])
    async def test_a_channel_without_keys_is_refused(self, client, channel):
        user, _, order = await order_to_pay(client)
        response = await client.post(
            f"/api/orders/{order['id']}/payments", json={"channel": channel}, headers=auth(user)
        )
        assert response.status_code == 422
        assert response.json()["code"] == "channel_not_configured"

    async def test_the_sandbox_is_off_in_production_unless_switched_on(self, client, monkeypatch):
        user, _, order = await order_to_pay(client)
        monkeypatch.setattr(get_settings(), "app_env", "prod")
        response = await client.post(
            f"/api/orders/{order['id']}/payments", json={"channel": "sandbox"}, headers=auth(user)
        )
        assert response.status_code == 422
        assert response.json()["code"] == "channel_not_configured"

    async def test_the_alipay_url_is_signed_with_the_merchant_key(self, client, gateways):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        url = urlsplit(payment["pay_url"])
        params = dict(parse_qsl(url.query))
        assert f"{url.scheme}://{url.netloc}{url.path}" == get_settings().alipay_gateway_url
        assert params["method"] == "alipay.trade.page.pay" and params["sign_type"] == "RSA2"
        assert keys.rsa_verify(gw.ALIPAY_MERCHANT.public_key(), sign_content(params).encode(), params["sign"])
        biz = json.loads(params["biz_content"])
        assert biz["total_amount"] == gw.yuan(order["total_fen"])
        assert biz["out_trade_no"] == (await payment_row(payment["id"])).out_trade_no
        assert params["notify_url"] == "http://testserver/api/payments/alipay/notify"

    async def test_wechat_gives_the_code_url_from_the_gateway(self, client, gateways):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "wechat")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        assert payment["pay_url"] == f"weixin://wxpay/bizpayurl?pr={out_trade_no}"
        assert gateways.bad_request_signatures == 0


class TestSandboxNotify:
    async def test_success_pays_the_order_once_and_a_replay_changes_nothing(self, client):
        user, sku, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        body = sandbox_body(payment, order)
        first = await sandbox_notify(client, body)
        assert first.status_code == 200 and first.json() == {"result": "success"}
        replay = await sandbox_notify(client, body)
        assert replay.status_code == 200 and replay.json() == {"result": "success"}
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")
        assert await history_count(order["id"], "paid") == 1
        assert len(await events_of("payment.succeeded")) == 1
        assert len(await events_of("order.paid")) == 1
        assert [n.outcome for n in await notifications()] == ["applied", "duplicate"]
        assert await stock_of(sku.id) == 8

    @pytest.mark.parametrize("tamper", ["forged", "truncated", "other_secret", "missing"])
    async def test_a_bad_signature_changes_nothing_but_is_logged(self, client, tamper):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        body = sandbox_body(payment, order)
        signature = {
            "forged": "0" * 64,
            "truncated": None,
            "other_secret": hmac.new(b"guess", body, hashlib.sha256).hexdigest(),
            "missing": "",
        }[tamper]
        if tamper == "truncated":
            response = await sandbox_notify(
                client,
                body[:-10],
                signature=sandbox.sign(body),
            )
        elif tamper == "missing":
            response = await client.post("/api/payments/sandbox/notify", content=body)
        else:
            response = await sandbox_notify(client, body, signature=signature)
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "bad_signature"
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")
        assert await events_of("payment.succeeded") == []
        [logged] = await notifications()
        assert (logged.outcome, logged.error_code) == ("rejected", "bad_signature")
        assert logged.body.startswith("{")

    async def test_a_wrong_amount_changes_nothing(self, client):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        response = await sandbox_notify(client, sandbox_body(payment, order, amount_fen=1))
        assert response.status_code == 400
        assert response.json()["code"] == "amount_mismatch"
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")
        assert [n.error_code for n in await notifications()] == ["amount_mismatch"]

    async def test_another_orders_number_changes_nothing(self, client):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        response = await sandbox_notify(client, sandbox_body(payment, order, order_no="20261125000000000000"))
        assert response.status_code == 400
        assert response.json()["code"] == "bad_notification"
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")

    @pytest.mark.parametrize("body", [b"not json", b'{"payment_id": "1"}', b"[]"])
    async def test_a_signed_but_malformed_body_is_400(self, client, body):
        response = await sandbox_notify(client, body)
        assert response.status_code == 400
        assert response.json()["code"] == "bad_notification"

    async def test_an_unknown_payment_is_404(self, client):
        response = await sandbox_notify(
            client, sandbox_body({"id": 999999, "amount_fen": 100}, {"order_no": "20261125000000000000"})
        )
        assert response.status_code == 404
        assert response.json()["code"] == "payment_not_found"

    async def test_failed_marks_the_payment_failed_and_the_order_waits(self, client):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        response = await sandbox_notify(client, sandbox_body(payment, order, status="failed"))
        assert response.status_code == 200
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "failed")
        [failed] = await events_of("payment.failed")
        assert failed["payment_id"] == payment["id"]
        # The buyer can try again with a new payment.
        again = await start_payment(client, user, order["id"])
        assert again["id"] != payment["id"] and again["status"] == "pending"


class TestAlipayNotify:
    async def test_a_verified_success_pays_the_order(self, client, gateways):
        _, _, order, payment, out_trade_no = await _alipay_payment(client)
        params = gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"]))
        response = await _alipay_notify(client, params)
        assert (response.status_code, response.text) == (200, "success")
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")
        assert (await payment_row(payment["id"])).gateway_trade_no == params["trade_no"]
        replay = await _alipay_notify(client, params)
        assert replay.text == "success"
        assert len(await events_of("order.paid")) == 1

    async def test_the_amount_is_compared_in_fen_not_as_a_float(self, client, gateways):
        _, _, order, payment, out_trade_no = await _alipay_payment(client)
        fen = order["total_fen"]
        short = f"{fen // 100}.{fen % 100 // 10}" if fen % 10 == 0 else gw.yuan(fen)
        response = await _alipay_notify(client, gw.alipay_notification(out_trade_no, short))
        assert response.text == "success"
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")

    @pytest.mark.parametrize("tamper", ["forged", "truncated", "other_key", "no_sign", "changed_amount"])
    async def test_a_bad_signature_changes_nothing(self, client, gateways, tamper):
        _, _, order, payment, out_trade_no = await _alipay_payment(client)
        params = gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"]))
        if tamper == "forged":
            params["sign"] = params["sign"][:-8] + "AAAAAAA="
        elif tamper == "truncated":
            params.pop("gmt_payment")
        elif tamper == "other_key":
            params = gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"]), key=gw.ATTACKER)
        elif tamper == "no_sign":
            params.pop("sign")
        else:
            params["total_amount"] = "0.01"
        response = await _alipay_notify(client, params)
        assert (response.status_code, response.text) == (400, "failure")
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")
        assert [n.error_code for n in await notifications()] == ["bad_signature"]

    async def test_a_truncated_body_changes_nothing(self, client, gateways):
        _, _, order, payment, out_trade_no = await _alipay_payment(client)
        body = gw.form_body(gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"])))
        response = await client.post(
            "/api/payments/alipay/notify",
            content=body[: len(body) // 2],
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.text == "failure"
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")

    async def test_another_app_id_is_acknowledged_and_pays_nothing(self, client, gateways):
        """Signed by Alipay for another app: the gateway stops resending, staff take it (test_notices)."""
        _, _, order, payment, out_trade_no = await _alipay_payment(client)
        params = gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"]), app_id="2021999999999999")
        response = await _alipay_notify(client, params)
        assert response.text == "success"
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")
        assert [(n.outcome, n.error_code) for n in await notifications()] == [
            ("unmatched", "app_id_mismatch")
        ]

    async def test_a_wrong_amount_pays_nothing_and_goes_back(self, client, gateways):
        _, _, order, payment, out_trade_no = await _alipay_payment(client)
        response = await _alipay_notify(client, gw.alipay_notification(out_trade_no, "0.01"))
        assert response.text == "success"
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "failed")
        assert [(n.outcome, n.error_code) for n in await notifications()] == [
            ("refund_due", "amount_mismatch")
        ]

    async def test_wait_buyer_pay_is_acknowledged_and_changes_nothing(self, client, gateways):
        _, _, order, payment, out_trade_no = await _alipay_payment(client)
        params = gw.alipay_notification(
            out_trade_no, gw.yuan(order["total_fen"]), trade_status="WAIT_BUYER_PAY"
        )
        assert (await _alipay_notify(client, params)).text == "success"
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")

    async def test_without_keys_every_notification_fails_and_nothing_is_stored(self, client):
        response = await _alipay_notify(client, {"out_trade_no": "1", "total_amount": "1.00", "sign": "x"})
        assert (response.status_code, response.text) == (400, "failure")
        assert await notifications() == []


class TestWechatNotify:
    async def test_a_verified_success_pays_the_order(self, client, gateways):
        _, _, order, payment, out_trade_no = await _wechat_payment(client)
        body = gw.wechat_notification(gw.wechat_transaction(out_trade_no, order["total_fen"]))
        response = await _wechat_notify(client, body, gw.wechat_headers(body))
        assert response.status_code == 204
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")
        replay = await _wechat_notify(client, body, gw.wechat_headers(body))
        assert replay.status_code == 204
        assert len(await events_of("payment.succeeded")) == 1

    @pytest.mark.parametrize(
        "tamper", ["other_key", "truncated", "wrong_serial", "stale", "other_apiv3_key", "no_signature"]
    )
    async def test_a_bad_notification_is_refused_and_changes_nothing(self, client, gateways, tamper):
        _, _, order, payment, out_trade_no = await _wechat_payment(client)
        tx = gw.wechat_transaction(out_trade_no, order["total_fen"])
        body = gw.wechat_notification(tx)
        headers = gw.wechat_headers(body)
        if tamper == "other_key":
            headers = gw.wechat_headers(body, key=gw.ATTACKER)
        elif tamper == "truncated":
            body = body[:-20]
        elif tamper == "wrong_serial":
            headers = gw.wechat_headers(body, serial="PUB_KEY_ID_SOMEONE_ELSE")
        elif tamper == "stale":
            headers = gw.wechat_headers(body, timestamp=int(time.time()) - 301)
        elif tamper == "other_apiv3_key":
            body = gw.wechat_notification(tx, apiv3_key="f" * 32)
            headers = gw.wechat_headers(body)
        else:
            headers.pop("Wechatpay-Signature")
        response = await _wechat_notify(client, body, headers)
        assert response.status_code == 400
        assert response.json()["code"] == "FAIL" and response.json()["message"]
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")
        assert len(await notifications()) == 1

    @pytest.mark.parametrize("field", ["mchid", "appid"])
    async def test_another_merchant_is_acknowledged_and_pays_nothing(self, client, gateways, field):
        _, _, order, payment, out_trade_no = await _wechat_payment(client)
        body = gw.wechat_notification(
            gw.wechat_transaction(out_trade_no, order["total_fen"], **{field: "other"})
        )
        response = await _wechat_notify(client, body, gw.wechat_headers(body))
        assert response.status_code == 204
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")
        assert [(n.outcome, n.error_code) for n in await notifications()] == [
            ("unmatched", "app_id_mismatch")
        ]

    async def test_a_wrong_amount_pays_nothing_and_goes_back(self, client, gateways):
        _, _, order, payment, out_trade_no = await _wechat_payment(client)
        body = gw.wechat_notification(gw.wechat_transaction(out_trade_no, order["total_fen"] - 1))
        response = await _wechat_notify(client, body, gw.wechat_headers(body))
        assert response.status_code == 204
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "failed")
        assert [(n.outcome, n.error_code) for n in await notifications()] == [
            ("refund_due", "amount_mismatch")
        ]


class TestLatePayment:
    async def test_a_payment_for_a_cancelled_order_is_refunded_and_takes_no_stock(self, client, gateways):
        user, sku, order, payment, out_trade_no = await _alipay_payment(client)
        await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))
        assert await stock_of(sku.id) == 10
        response = await _alipay_notify(
            client, gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"]))
        )
        assert response.text == "success"  # acknowledged: the gateway must stop retrying
        assert gateways.refund_calls == []  # answered at once; the job refunds
        assert await state_of(order["id"], payment["id"]) == ("refunding", "succeeded")
        assert await run_job("payments.retry_refunds") == 1
        assert await state_of(order["id"], payment["id"]) == ("refunded", "refunded")
        assert await stock_of(sku.id) == 10
        [refund] = await refunds()
        assert gateways.refunds_paid == {refund.out_refund_no: 1}
        assert len(await events_of("payment.refunded")) == 1
        assert [e["stock_returned"] for e in await events_of("order.refunded")] == [False]
        # A replay of the notification refunds nothing more.
        await _alipay_notify(client, gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"])))
        assert gateways.refund_calls == [refund.out_refund_no]

    async def test_when_the_gateway_refuses_the_refund_the_job_finishes_it(self, client, gateways):
        user, sku, order, payment, out_trade_no = await _alipay_payment(client)
        await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))
        gateways.refuse_refunds = True
        response = await _alipay_notify(
            client, gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"]))
        )
        assert response.text == "success"
        assert await state_of(order["id"], payment["id"]) == ("refunding", "succeeded")
        assert [n.outcome for n in await notifications()] == ["refund_due"]
        gateways.refuse_refunds = False
        assert await run_job("payments.retry_refunds") == 1
        assert await state_of(order["id"], payment["id"]) == ("refunded", "refunded")
        assert await stock_of(sku.id) == 10

    async def test_a_second_payment_for_a_paid_order_is_given_back(self, client, gateways):
        user, _, order = await order_to_pay(client)
        first = await start_payment(client, user, order["id"], "sandbox")
        second = await start_payment(client, user, order["id"], "alipay")
        await sandbox_notify(client, sandbox_body(first, order))
        out_trade_no = (await payment_row(second["id"])).out_trade_no
        response = await _alipay_notify(
            client, gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"]))
        )
        assert response.text == "success"
        assert await run_job("payments.retry_refunds") == 1
        assert await state_of(order["id"], first["id"]) == ("paid", "succeeded")
        assert (await payment_row(second["id"])).status == "refunded"
        assert len(gateways.refunds_paid) == 1


class TestPaymentRacingCancel:
    """The buyer's cancellation lands between the notification's verification and its update."""

    async def test_the_order_ends_refunded_with_stock_counted_once(self, client):
        user, sku, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])

        async def cancel_now(payment_id: int) -> None:
            assert payment_id == payment["id"]
            response = await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))
            assert response.status_code == 200, response.text

        notices.after_verification = cancel_now
        response = await sandbox_notify(client, sandbox_body(payment, order))
        assert response.status_code == 200
        assert await run_job("payments.retry_refunds") == 1
        assert await state_of(order["id"], payment["id"]) == ("refunded", "refunded")
        assert await stock_of(sku.id) == 10  # returned once at cancellation, never taken again
        assert len(await events_of("order.cancelled")) == 1
        assert len(await events_of("order.paid")) == 0
        assert len(await events_of("payment.refunded")) == 1

    async def test_a_cancel_that_comes_after_the_payment_is_refused(self, client):
        user, sku, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        assert (await sandbox_notify(client, sandbox_body(payment, order))).status_code == 200
        response = await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))
        assert response.status_code == 409
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")
        assert await stock_of(sku.id) == 8


class TestStaffRefund:
    async def _paid_by_alipay(self, client):
        user, sku, order, payment, out_trade_no = await _alipay_payment(client)
        await _alipay_notify(client, gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"])))
        response = await client.post(
            f"/api/orders/{order['id']}/refund-request", json={"reason": "买多了"}, headers=auth(user)
        )
        assert response.status_code == 200, response.text
        return user, sku, order, payment

    async def test_approval_refunds_through_the_gateway_once_and_returns_stock(self, client, gateways):
        _, sku, order, payment = await self._paid_by_alipay(client)
        clerk = await staff()
        response = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=auth(clerk))
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "refunded"
        assert (await payment_row(payment["id"])).status == "refunded"
        assert await stock_of(sku.id) == 10
        again = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=auth(clerk))
        assert again.status_code == 409
        [refund] = await refunds()
        assert gateways.refund_calls == [refund.out_refund_no]
        [event] = await events_of("payment.refunded")
        assert event["out_refund_no"] == refund.out_refund_no

    async def test_no_transaction_is_held_while_the_gateway_refunds(self, client, gateways):
        """The approval and the refund's record are committed before the gateway is called: while it answers,
        another connection can write the order's row (on SQLite: the database) at once."""
        _, _, order, _ = await self._paid_by_alipay(client)
        meanwhile: list[str] = []
        gateways.while_refunding = lambda: meanwhile.append(_touch_order_elsewhere(order["id"]))

        response = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=auth(await staff()))

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "refunded"
        assert meanwhile == ["written"]

    async def test_a_gateway_failure_leaves_the_order_refunding_until_the_job_retries(self, client, gateways):
        _, sku, order, payment = await self._paid_by_alipay(client)
        gateways.refuse_refunds = True
        response = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=auth(await staff()))
        assert response.status_code == 200
        assert response.json()["status"] == "refunding"
        assert await run_job("payments.retry_refunds") == 0
        assert await state_of(order["id"], payment["id"]) == ("refunding", "succeeded")
        gateways.refuse_refunds = False
        assert await run_job("payments.retry_refunds") == 1
        assert await state_of(order["id"], payment["id"]) == ("refunded", "refunded")
        assert await stock_of(sku.id) == 10
        [refund] = await refunds()
        assert gateways.refunds_paid == {refund.out_refund_no: 1}  # same number every time
        assert await run_job("payments.retry_refunds") == 0

    async def test_a_wechat_refund_still_processing_completes_later(self, client, gateways):
        user, sku, order, payment, out_trade_no = await _wechat_payment(client)
        body = gw.wechat_notification(gw.wechat_transaction(out_trade_no, order["total_fen"]))
        assert (await _wechat_notify(client, body, gw.wechat_headers(body))).status_code == 204
        await client.post(
            f"/api/orders/{order['id']}/refund-request", json={"reason": "不要了"}, headers=auth(user)
        )
        gateways.wechat_refund_status = "PROCESSING"
        response = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=auth(await staff()))
        assert response.json()["status"] == "refunding"
        gateways.wechat_refund_status = "SUCCESS"
        assert await run_job("payments.retry_refunds") == 1
        assert await state_of(order["id"], payment["id"]) == ("refunded", "refunded")
        assert await stock_of(sku.id) == 10
        [refund] = await refunds()
        # Posted once; afterwards only looked up by its number.
        assert gateways.refund_calls == [refund.out_refund_no]
        assert gateways.refund_queries == [refund.out_refund_no]


class TestReconciliation:
    @pytest.fixture(autouse=True)
    def _due_at_once(self, monkeypatch):
        monkeypatch.setattr(get_settings(), "payment_reconcile_after_minutes", 0)

    async def test_a_lost_alipay_notification_does_not_leave_a_paid_order_unpaid(self, client, gateways):
        _, _, order, payment, out_trade_no = await _alipay_payment(client)
        assert await run_job("payments.reconcile") == 0  # the buyer has not paid yet
        gateways.alipay_trades[out_trade_no] = ("TRADE_SUCCESS", order["total_fen"])
        assert await run_job("payments.reconcile") == 1
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")
        assert await run_job("payments.reconcile") == 0
        assert len(await events_of("order.paid")) == 1

    async def test_a_lost_wechat_notification_too(self, client, gateways):
        _, _, order, payment, out_trade_no = await _wechat_payment(client)
        gateways.wechat_trades[out_trade_no] = ("SUCCESS", order["total_fen"])
        assert await run_job("payments.reconcile") == 1
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")

    async def test_a_closed_trade_marks_the_payment_failed(self, client, gateways):
        _, _, order, payment, out_trade_no = await _alipay_payment(client)
        gateways.alipay_trades[out_trade_no] = ("TRADE_CLOSED", order["total_fen"])
        assert await run_job("payments.reconcile") == 1
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "failed")

    async def test_a_recent_payment_is_left_alone(self, client, gateways, monkeypatch):
        monkeypatch.setattr(get_settings(), "payment_reconcile_after_minutes", 10)
        _, _, order, payment, out_trade_no = await _alipay_payment(client)
        gateways.alipay_trades[out_trade_no] = ("TRADE_SUCCESS", order["total_fen"])
        assert await run_job("payments.reconcile") == 0
        async with session_scope() as session:
            from datetime import timedelta

            from app.db import utcnow

            await session.execute(
                update(Payment)
                .where(Payment.id == payment["id"])
                .values(created_at=utcnow() - timedelta(minutes=11))
            )
        assert await run_job("payments.reconcile") == 1
        assert (await order_row(order["id"])).status == "paid"


class TestSandboxPurchase:
    """The HTTP steps a buyer's browser takes: log in, create the payment, open the page, press a button."""

    async def test_pressing_success_pays_the_order_and_returns_to_it(self, client):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        await log_in(client, user)
        page = await client.get(payment["pay_url"])
        assert page.status_code == 200
        assert "支付成功" in page.text and "支付失败" in page.text and "¥" in page.text
        assert get_settings().payment_sandbox_secret not in page.text
        response = await client.post(
            f"/pay/sandbox/{payment['id']}", data={"result": "success", "csrf_token": csrf_from(page.text)}
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/orders/{order['id']}"
        mine = await client.get(f"/api/orders/{order['id']}", headers=auth(user))
        assert mine.json()["status"] == "paid"
        [logged] = await notifications()
        assert logged.channel == "sandbox" and logged.outcome == "applied"
        again = await client.get(payment["pay_url"])
        assert "这笔支付已经成功" in again.text

    async def test_pressing_failure_leaves_the_order_waiting(self, client):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        await log_in(client, user)
        page = await client.get(payment["pay_url"])
        response = await client.post(
            f"/pay/sandbox/{payment['id']}", data={"result": "failed", "csrf_token": csrf_from(page.text)}
        )
        assert response.status_code == 303
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "failed")

    async def test_a_press_without_the_csrf_token_is_refused(self, client):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"])
        await log_in(client, user)
        await client.get(payment["pay_url"])
        response = await client.post(f"/pay/sandbox/{payment['id']}", data={"result": "success"})
        assert response.status_code == 403
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")

    async def test_an_unknown_payment_page_is_404(self, client):
        assert (await client.get("/pay/sandbox/999999")).status_code == 404


def _touch_order_elsewhere(order_id: int) -> str:
    """Write the order's row on a connection of its own, waiting at most a second for a lock."""
    url = make_url(get_settings().database_url)
    sqlite = url.drivername.startswith("sqlite")
    engine = create_engine(
        url.set(drivername="sqlite" if sqlite else "mysql+pymysql"),
        connect_args={"timeout": 1} if sqlite else {},
        poolclass=NullPool,
    )
    try:
        with engine.begin() as conn:
            if not sqlite:
                conn.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
            conn.execute(text("UPDATE orders SET note = note WHERE id = :id"), {"id": order_id})
        return "written"
    except DBAPIError as exc:
        return f"blocked: {exc.orig}"
    finally:
        engine.dispose()
