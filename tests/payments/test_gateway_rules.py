"""What the official SDKs (python-alipay-sdk, wechatpayv3) and the gateways' rules catch (issue 16). The SDKs'
own signing and verification are the reference here, so these tests do not only agree with ourselves."""

from __future__ import annotations

from app.config import get_settings
from app.worker import run_job
from tests.orders.factories import staff
from tests.payments import gateway as gw
from tests.payments.factories import order_to_pay, payment_row, start_payment, state_of
from tests.users.factories import auth


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


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
