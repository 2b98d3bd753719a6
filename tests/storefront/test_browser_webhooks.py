"""Webhooks in a real browser: an administrator subscribes the ERP, copies the secret, opens the delivery log,
redelivers a failed event and disables the webhook."""

from __future__ import annotations

import re

import pytest

from app.users.models import Role
from app.webhooks.models import MessageStatus
from tests.storefront.conftest import log_in_on_the_way, screenshot
from tests.users.factories import DEFAULT_PASSWORD, create_user
from tests.webhooks.factories import failed_attempt, messages

pytestmark = pytest.mark.browser


class TestWebhookScenario:
    async def test_subscribe_see_the_log_redeliver_and_disable(self, new_page):
        boss = await create_user(role=Role.admin, nickname="老板")
        desk = await new_page()
        await log_in_on_the_way(desk, "/admin/webhooks", boss.phone, DEFAULT_PASSWORD)

        await desk.get_by_label("接收地址").fill("https://93.184.216.34/erp/events")
        await desk.get_by_label(re.compile("^事件类型")).fill("order.paid, order.shipped")
        await desk.get_by_role("button", name="创建 Webhook").click()
        secret = desk.locator("#webhook-secret")
        assert (await secret.inner_text()).startswith("whsec_")
        webhook_id = int(await secret.get_attribute("data-webhook-id"))
        await screenshot(desk, "admin-webhooks")

        attempt = await failed_attempt(webhook_id, event_id="evt-erp-1", status_code=503)
        await desk.goto("/admin/webhooks")
        assert not await desk.locator("#webhook-secret").count()  # shown once
        await desk.get_by_role("link", name="投递记录").click()
        row = desk.locator(f"#delivery-{attempt.id}")
        assert "evt-erp-1" in await row.inner_text() and "503" in await row.inner_text()

        await row.get_by_role("button", name="重新投递").click()
        await desk.wait_for_url(re.compile(r"done=redelivered"))
        assert await desk.get_by_text("已安排重新投递").is_visible()
        (message,) = await messages()
        assert message.status == MessageStatus.pending

        await desk.get_by_role("button", name="停用").click()
        await desk.wait_for_url(re.compile(r"done=disabled"))
        assert await desk.get_by_text("已停用").first.is_visible()
        assert [m.status for m in await messages()] == [MessageStatus.cancelled]
        await screenshot(desk, "admin-webhook-log")
