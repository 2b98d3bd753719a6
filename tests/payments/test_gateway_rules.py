"""What the official SDKs (python-alipay-sdk, wechatpayv3) and the gateways' rules catch (issue 16). The SDKs'
own signing and verification are the reference here, so these tests do not only agree with ourselves."""

from __future__ import annotations

import json

import pytest
from alipay import AliPay

from app.config import get_settings
from app.worker import run_job
from tests.orders.factories import staff
from tests.payments import gateway as gw
from tests.payments.factories import order_to_pay, payment_row, start_payment, state_of
from tests.users.factories import auth


def alipay_sdk_as_alipay() -> AliPay:
    """python-alipay-sdk holding Alipay's (test) key pair: it signs what Alipay signs and verifies as the SDK
    verifies notifications."""
    return AliPay(
        appid=gw.ALIPAY_APP_ID,
        app_private_key_string=gw.private_pem(gw.ALIPAY_PLATFORM),
        alipay_public_key_string=gw.public_pem(gw.ALIPAY_PLATFORM),
    )


def alipay_sdk_notice(params: dict[str, str]) -> dict[str, str]:
    """Sign a notice exactly as the SDK's `verify()` checks it (sorted, `sign`/`sign_type` left out)."""
    sdk = alipay_sdk_as_alipay()
    unsigned = {k: v for k, v in params.items() if k not in ("sign", "sign_type")}
    message = "&".join(f"{k}={v}" for k, v in sorted(unsigned.items()))
    signature = sdk._sign(message)
    assert sdk.verify(dict(unsigned), signature)  # the reference agrees with itself
    return {**unsigned, "sign_type": "RSA2", "sign": signature}


async def _alipay_post(client, params: dict[str, str]):
    return await client.post(
        "/api/payments/alipay/notify",
        content=gw.form_body(params),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )


class TestUserAgent:
    """16.1: WeChat Pay refuses a request without a User-Agent; every gateway call sends ours."""

    async def test_every_gateway_call_says_who_is_calling(self, client, gateways, monkeypatch):
        monkeypatch.setattr(get_settings(), "payment_reconcile_after_minutes", 0)
        user, _, order = await order_to_pay(client)
        wechat = await start_payment(client, user, order["id"], "wechat")
        assert wechat["pay_url"].startswith("weixin://")
        other_user, _, other = await order_to_pay(client)
        await start_payment(client, other_user, other["id"], "alipay")
        await run_job("payments.reconcile")  # Alipay query and WeChat query
        assert len(gateways.user_agents) >= 3
        assert all(ua.startswith("Daoxiang/") for ua in gateways.user_agents), gateways.user_agents

    async def test_a_wechat_refund_goes_through(self, client, gateways):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "wechat")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        body = gw.wechat_notification(gw.wechat_transaction(out_trade_no, order["total_fen"]))
        await client.post("/api/payments/wechat/notify", content=body, headers=gw.wechat_headers(body))
        await client.post(
            f"/api/orders/{order['id']}/refund-request", json={"reason": "不要了"}, headers=auth(user)
        )
        response = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=auth(await staff()))
        assert response.json()["status"] == "refunded"
        assert await state_of(order["id"], payment["id"]) == ("refunded", "refunded")


class TestAlipayNotificationSignature:
    """16.2: a notice's signature covers empty parameters too (`key=`), as Alipay and the SDK compute it."""

    @pytest.mark.parametrize(
        "extra",
        [
            {"passback_params": ""},
            {"body": "", "seller_email": ""},
            {
                "fund_bill_list": '[{"amount":"119.80","fundChannel":"ALIPAYACCOUNT"}]',
                "voucher_detail_list": "",
            },
            {},
        ],
        ids=["one_empty", "two_empty", "empty_and_json", "none_empty"],
    )
    async def test_a_notice_signed_by_the_sdks_rule_pays_the_order(self, client, gateways, extra):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        params = {**gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"])), **extra}
        response = await _alipay_post(client, alipay_sdk_notice(params))
        assert (response.status_code, response.text) == (200, "success")
        assert await state_of(order["id"], payment["id"]) == ("paid", "succeeded")

    async def test_dropping_an_empty_parameter_breaks_the_signature(self, client, gateways):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        params = {**gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"])), "passback_params": ""}
        signed = alipay_sdk_notice(params)
        signed.pop("passback_params")
        response = await _alipay_post(client, signed)
        assert response.text == "failure"
        assert await state_of(order["id"], payment["id"]) == ("pending_payment", "pending")


class TestWechatSerialWithALeadingZero:
    """16.3: certificate mode with WECHAT_PLATFORM_SERIAL unset; serials compared as numbers, as the SDK
    (wechatpayv3 `int('0x' + serial_no, 16) == cert.serial_number`) does."""

    SERIAL = 0x0A5F09EFDC096DE15EBE81A47057A7232F1B8E10

    @pytest.mark.parametrize(
        "header,accepted",
        [
            ("0A5F09EFDC096DE15EBE81A47057A7232F1B8E10", True),
            ("0a5f09efdc096de15ebe81a47057a7232f1b8e10", True),
            ("A5F09EFDC096DE15EBE81A47057A7232F1B8E10", True),
            ("0A5F09EFDC096DE15EBE81A47057A7232F1B8E11", False),
            ("PUB_KEY_ID_0A5F09EFDC096DE15EBE81A47057A7", False),
        ],
    )
    async def test_the_header_serial_matches_the_certificate(
        self, client, gateways, monkeypatch, header, accepted
    ):
        monkeypatch.setattr(get_settings(), "wechat_platform_key", gw.platform_certificate(self.SERIAL))
        monkeypatch.setattr(get_settings(), "wechat_platform_serial", None)
        gateways.answer_serial = f"{self.SERIAL:040X}"
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "wechat")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        body = gw.wechat_notification(gw.wechat_transaction(out_trade_no, order["total_fen"]))
        response = await client.post(
            "/api/payments/wechat/notify", content=body, headers=gw.wechat_headers(body, serial=header)
        )
        assert response.status_code == (204 if accepted else 400)
        expected = ("paid", "succeeded") if accepted else ("pending_payment", "pending")
        assert await state_of(order["id"], payment["id"]) == expected


class TestLatePaymentsAnswerAtOnce:
    """16.5: a payment for a cancelled order is acknowledged without waiting for the gateway's refund."""

    async def test_the_notice_is_answered_before_any_refund_call_and_the_job_refunds(self, client, gateways):
        user, sku, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))
        calls_while_answering: list[str] = []
        gateways.while_refunding = lambda: calls_while_answering.append("refund called")
        response = await _alipay_post(
            client, gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"]))
        )
        assert response.text == "success"
        assert calls_while_answering == []
        assert await state_of(order["id"], payment["id"]) == ("refunding", "succeeded")
        assert await run_job("payments.retry_refunds") == 1
        assert calls_while_answering == ["refund called"]
        assert await state_of(order["id"], payment["id"]) == ("refunded", "refunded")


class TestRefundBookkeeping:
    """16.9 (bookkeeping): Alipay's trade number is not stored as a refund number; a refund that succeeds
    after failures no longer shows the last failure."""

    async def test_an_alipay_refund_after_a_failure(self, client, gateways):
        from tests.payments.factories import refunds

        user, sku, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], "alipay")
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))
        await _alipay_post(client, gw.alipay_notification(out_trade_no, gw.yuan(order["total_fen"])))
        gateways.refuse_refunds = True
        assert await run_job("payments.retry_refunds") == 0
        [refund] = await refunds()
        assert refund.last_error and refund.attempts == 1
        gateways.refuse_refunds = False
        assert await run_job("payments.retry_refunds") == 1
        [refund] = await refunds()
        assert refund.status == "succeeded" and refund.last_error is None
        assert refund.gateway_refund_no != "2026112522001499999"  # the stand-in's trade_no


PROD_SECRETS = {
    "secret_key": "k" * 40,
    "payment_sandbox_secret": "s" * 40,
    "app_env": "prod",
    "allowed_hosts": "shop.example.com",
}


class TestGoingLive:
    """16.9: production refuses a plain-HTTP notify URL while a real channel is configured; `daoxiang payments
    check` lists each channel's configuration problems without calling a gateway."""

    @pytest.mark.parametrize(
        "channel", [{"alipay_app_id": "2021000000000001"}, {"wechat_mch_id": "1900000001"}]
    )
    @pytest.mark.parametrize(
        "url", ["http://shop.example.com", "HTTP://shop.example.com", "shop.example.com"]
    )
    def test_production_refuses_to_start_without_https(self, channel, url):
        from pydantic import ValidationError

        from app.config import Settings

        with pytest.raises(ValidationError, match="https"):
            Settings(**PROD_SECRETS, **channel, public_base_url=url)
        assert Settings(**PROD_SECRETS, **channel, public_base_url="https://shop.example.com")
        assert Settings(**PROD_SECRETS, public_base_url=url)  # no real channel: nothing to notify

    def _live(self, **overrides):
        settings = get_settings().model_copy(
            update={
                **gw.settings_for("https://api.mch.weixin.qq.com"),
                "alipay_gateway_url": "https://openapi.alipay.com/gateway.do",
                "public_base_url": "https://shop.example.com",
                **overrides,
            }
        )
        return settings

    def test_a_ready_configuration_has_no_problems(self):
        from app.payments.checks import check_all

        report = check_all(self._live())
        assert report["alipay"] == [] and report["wechat"] == []

    @pytest.mark.parametrize(
        "overrides,channel,expected",
        [
            ({"public_base_url": "http://shop.example.com"}, "wechat", "PUBLIC_BASE_URL"),
            ({"public_base_url": "https://127.0.0.1:8000"}, "alipay", "not a public address"),
            ({"public_base_url": "https://localhost"}, "wechat", "not a public address"),
            ({"public_base_url": "https://10.1.2.3"}, "alipay", "not a public address"),
            ({"alipay_private_key": "not a key"}, "alipay", "ALIPAY_PRIVATE_KEY"),
            ({"alipay_public_key": None}, "alipay", "ALIPAY_PUBLIC_KEY is not set"),
            ({"wechat_apiv3_key": "short"}, "wechat", "32 bytes"),
            ({"wechat_platform_serial": None}, "wechat", "WECHAT_PLATFORM_SERIAL"),
            (
                {"wechat_platform_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"},
                "wechat",
                "KEY",
            ),
            ({"wechat_api_base_url": "http://api.mch.weixin.qq.com"}, "wechat", "WECHAT_API_BASE_URL"),
        ],
    )
    def test_each_problem_is_named(self, overrides, channel, expected):
        from app.payments.checks import check_all

        problems = check_all(self._live(**overrides))[channel]
        assert problems and any(expected in p for p in problems), problems

    def test_a_platform_serial_that_is_not_the_certificates_is_named(self):
        from app.payments.checks import check_all

        settings = self._live(
            wechat_platform_key=gw.platform_certificate(TestWechatSerialWithALeadingZero.SERIAL),
            wechat_platform_serial="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        )
        assert any("not the certificate's serial" in p for p in check_all(settings)["wechat"])
        settings = self._live(
            wechat_platform_key=gw.platform_certificate(TestWechatSerialWithALeadingZero.SERIAL),
            wechat_platform_serial=f"{TestWechatSerialWithALeadingZero.SERIAL:040X}",
        )
        assert check_all(settings)["wechat"] == []

    def test_the_command_exits_1_on_problems_and_calls_no_gateway(self, gateways):
        from typer.testing import CliRunner

        from app.cli import cli

        result = CliRunner().invoke(cli, ["payments", "check"])
        assert result.exit_code == 1, result.output
        assert "alipay:" in result.output and "PUBLIC_BASE_URL" in result.output
        assert gateways.user_agents == []  # nothing was asked of the gateways


class TestCancelledOrdersCannotBePaidAtTheGateway:
    """16.6: the trade expires with the order (time_expire), and a cancelled order's trade is closed."""

    async def test_page_pay_and_prepay_carry_the_orders_deadline(self, client, gateways):
        from datetime import timedelta, timezone
        from urllib.parse import parse_qsl, urlsplit

        from tests.payments.factories import order_row

        beijing = timezone(timedelta(hours=8))
        user, _, order = await order_to_pay(client)
        alipay = await start_payment(client, user, order["id"], "alipay")
        await start_payment(client, user, order["id"], "wechat")
        deadline = (await order_row(order["id"])).pay_deadline.astimezone(beijing)
        biz = json.loads(dict(parse_qsl(urlsplit(alipay["pay_url"]).query))["biz_content"])
        assert biz["time_expire"] == deadline.strftime("%Y-%m-%d %H:%M:%S")
        [native] = gateways.native_requests
        assert native["time_expire"] == deadline.isoformat(timespec="seconds")
        assert native["time_expire"].endswith("+08:00")

    @pytest.mark.parametrize("channel", ["alipay", "wechat"])
    async def test_cancelling_closes_the_trade_and_the_payment_fails(self, client, gateways, channel):
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], channel)
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        assert await run_job("payments.close_abandoned") == 0  # not cancelled yet
        await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))
        assert await run_job("payments.close_abandoned") == 1
        assert gateways.closed == [out_trade_no]
        assert await state_of(order["id"], payment["id"]) == ("cancelled", "failed")
        assert await run_job("payments.close_abandoned") == 0

    @pytest.mark.parametrize("channel", ["alipay", "wechat"])
    async def test_a_trade_paid_before_it_could_be_closed_is_refunded(
        self, client, gateways, channel, monkeypatch
    ):
        monkeypatch.setattr(get_settings(), "payment_reconcile_after_minutes", 0)
        user, _, order = await order_to_pay(client)
        payment = await start_payment(client, user, order["id"], channel)
        out_trade_no = (await payment_row(payment["id"])).out_trade_no
        await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))
        trades = gateways.alipay_trades if channel == "alipay" else gateways.wechat_trades
        trades[out_trade_no] = ("TRADE_SUCCESS" if channel == "alipay" else "SUCCESS", order["total_fen"])
        assert await run_job("payments.close_abandoned") == 0
        assert gateways.closed == []
        assert await run_job("payments.reconcile") == 1
        await run_job("payments.retry_refunds")
        assert await state_of(order["id"], payment["id"]) == ("refunded", "refunded")
