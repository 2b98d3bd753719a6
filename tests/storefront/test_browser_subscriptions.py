"""A subscription in a real browser: from the product page the customer logs in, subscribes weekly for six
periods, pays in the sandbox; the worker places the first delivery that day; 我的周期购 shows the schedule,
the customer skips, pauses, resumes and cancels (the undelivered periods refunded); staff see it in the back
office with the deliveries to pack."""

from __future__ import annotations

import re

import pytest

from app.users.models import Role
from tests.orders.factories import sku_on_sale, stock_of
from tests.storefront.conftest import screenshot
from tests.subscriptions.factories import run_job
from tests.users.factories import DEFAULT_PASSWORD, create_address, create_user

pytestmark = pytest.mark.browser


async def _accept(dialog) -> None:  # type: ignore[no-untyped-def]
    await dialog.accept()


class TestSubscribeFromTheProductPage:
    async def test_subscribe_pay_see_the_schedule_and_manage_it(self, new_page):
        sku = await sku_on_sale(stock=20, price_fen=5990)
        user = await create_user()
        await create_address(user, recipient="王五")
        page = await new_page(phone=True)
        page.on("dialog", _accept)

        await page.goto(f"/products/{sku.product_id}")
        await page.get_by_role("link", name=re.compile("周期购")).first.click()
        await page.wait_for_url(re.compile(rf"/products/{sku.product_id}/subscribe$"))
        await page.get_by_role("link", name="登录后订阅").click()
        await page.get_by_label("手机号").fill(user.phone)
        await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await page.wait_for_url(re.compile(rf"/products/{sku.product_id}/subscribe$"))

        await page.get_by_label("配送周期").select_option("weekly")
        await page.get_by_label("期数", exact=True).select_option("6")
        await screenshot(page, "subscribe-phone", full_page=True)
        await page.get_by_role("button", name="提交订阅并去支付").click()
        await page.wait_for_url(re.compile(r"/orders/\d+\?done=placed$"))
        # Six weekly bags of ¥59.90 (under the free-shipping threshold: ¥10 a delivery) = ¥419.40.
        assert await page.get_by_text("¥419.40").first.is_visible()
        await page.get_by_role("button", name=re.compile("去付款")).click()
        await page.wait_for_url(re.compile(r"/pay/sandbox/\d+"))
        await page.get_by_role("button", name="支付成功").click()
        await page.wait_for_url(re.compile(r"/orders/\d+"))

        assert await run_job() >= 2  # activated, first delivery placed
        assert await stock_of(sku.id) == 19
        await page.goto("/account/subscriptions")
        card = page.locator(".subscription").first
        assert await card.get_by_text("配送中").is_visible()
        assert await card.get_by_text(re.compile("已发 1/6 期")).is_visible()
        assert await card.get_by_role("row").count() == 7  # the header, one delivered, five to come
        await screenshot(page, "my-subscriptions-phone", full_page=True)

        await card.get_by_role("button", name="跳过下一期").click()
        assert await page.get_by_text("已跳过下一期，顺延一个周期").is_visible()
        await page.locator(".subscription").first.get_by_role("button", name="暂停").click()
        assert await page.locator(".subscription").first.get_by_text("已暂停").first.is_visible()
        await page.locator(".subscription").first.get_by_role("button", name="恢复").click()
        assert await page.get_by_text("已恢复配送").is_visible()
        await page.locator(".subscription").first.get_by_role("button", name="取消周期购").click()
        assert await page.get_by_text("周期购已取消").first.is_visible()
        # Five of six undelivered: ¥419.40 − ¥69.90 = ¥349.50 back.
        assert await page.get_by_text(re.compile(r"已退 ¥349\.50")).is_visible()

        desk = await new_page()
        staff = await create_user(role=Role.merchant, nickname="店员")
        await desk.goto("/login?next=/admin/subscriptions")
        await desk.get_by_label("手机号").fill(staff.phone)
        await desk.get_by_label("密码").fill(DEFAULT_PASSWORD)
        await desk.get_by_role("button", name="登录").click()
        await desk.wait_for_url(re.compile(r"/admin/subscriptions$"))
        assert await desk.get_by_role("heading", name="待打包配送（7 天内，含缺货待发）").is_visible()
        assert await desk.get_by_text("已取消").first.is_visible()
        await screenshot(desk, "admin-subscriptions")
