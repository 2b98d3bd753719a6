"""The back office's webhook pages: administrators only; the secret shown once; the delivery log; redelivery."""

from __future__ import annotations

from app.users.models import Role
from app.webhooks.models import MessageStatus
from tests.storefront.pages import csrf_from, is_html, log_in
from tests.users.factories import create_user
from tests.webhooks.factories import admin, create_webhook, failed_attempt, messages

PUBLIC_URL = "https://93.184.216.34/erp/events"


class TestWebhookPages:
    async def test_a_merchant_gets_403_and_no_link(self, client):
        await log_in(client, await create_user(role=Role.merchant))
        assert (await client.get("/admin/webhooks")).status_code == 403
        assert "/admin/webhooks" not in (await client.get("/admin/")).text

    async def test_an_admin_creates_one_and_sees_the_secret_once(self, client):
        await log_in(client, await admin())
        page = await client.get("/admin/webhooks")
        assert page.status_code == 200 and is_html(page) and "还没有 Webhook" in page.text
        response = await client.post(
            "/admin/webhooks",
            data={
                "csrf_token": csrf_from(page.text),
                "url": PUBLIC_URL,
                "event_types": "order.paid，order.shipped",
            },
        )
        assert response.status_code == 201
        assert "whsec_" in response.text and "只显示这一次" in response.text
        again = await client.get("/admin/webhooks")
        assert "whsec_" not in again.text and "order.paid, order.shipped" in again.text

    async def test_an_inside_address_is_refused_with_the_form_kept(self, client):
        await log_in(client, await admin())
        page = await client.get("/admin/webhooks")
        response = await client.post(
            "/admin/webhooks",
            data={
                "csrf_token": csrf_from(page.text),
                "url": "http://169.254.169.254/",
                "event_types": "order.paid",
            },
        )
        assert response.status_code == 422
        assert "不能指向内网" in response.text and "169.254.169.254" in response.text

    async def test_the_log_and_a_redelivery(self, client):
        await log_in(client, await admin())
        hook = await create_webhook(PUBLIC_URL)
        attempt = await failed_attempt(hook.id, event_id="evt-42")
        page = await client.get(f"/admin/webhooks/{hook.id}")
        assert "evt-42" in page.text and "失败" in page.text and "500" in page.text
        response = await client.post(
            f"/admin/webhooks/{hook.id}/deliveries/{attempt.id}/redeliver",
            data={"csrf_token": csrf_from(page.text)},
        )
        assert response.status_code == 303
        assert "已安排重新投递" in (await client.get(response.headers["location"])).text
        (message,) = await messages()
        assert message.status == MessageStatus.pending and message.manual

    async def test_an_unknown_webhook_is_a_404_page(self, client):
        await log_in(client, await admin())
        response = await client.get("/admin/webhooks/999")
        assert response.status_code == 404 and is_html(response)
