"""A flash sale in a real browser: the countdown page lists it, the customer logs in on the sale's page, buys
the last unit and lands on the order; the sale then shows 已抢光."""

from __future__ import annotations

import re

import pytest

from tests.flash_sales.factories import create_flash_sale, remaining
from tests.orders.factories import sku_on_sale
from tests.storefront.conftest import screenshot
from tests.users.factories import DEFAULT_PASSWORD, create_address, create_user

pytestmark = pytest.mark.browser


class TestBuyFromAFlashSale:
    async def test_open_a_sale_buy_the_last_unit_and_see_it_sold_out(self, new_page):
        sku = await sku_on_sale(stock=20, price_fen=5990)
        sale = await create_flash_sale(sku, price_fen=3990, quantity=1, per_customer_limit=1)
        user = await create_user()
        await create_address(user, recipient="李四")
        page = await new_page(phone=True)

        await page.goto("/flash-sales")
        assert await page.get_by_text("秒杀价 ¥39.90").count() == 1
        assert await page.get_by_text(re.compile("距结束 ")).count() == 1
        await screenshot(page, "flash-sales-phone")
        await page.get_by_role("link", name=re.compile("五常大米")).first.click()
        await page.wait_for_url(re.compile(rf"/flash-sales/{sale.id}$"))

        await page.get_by_role("link", name="登录后抢购").click()
        await page.get_by_label("手机号").fill(user.phone)
        await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await page.wait_for_url(re.compile(rf"/flash-sales/{sale.id}$"))

        await page.get_by_role("button", name="立即抢购").click()
        await page.wait_for_url(re.compile(r"/orders/\d+\?done=placed$"))
        assert await page.get_by_text("订单已提交，请尽快付款").is_visible()
        assert await page.get_by_text("¥39.90").first.is_visible()
        assert await remaining(sale.id) == 0

        await page.goto(f"/flash-sales/{sale.id}")
        sold_out = page.get_by_role("button", name="已抢光")
        assert await sold_out.is_visible() and await sold_out.is_disabled()
        await screenshot(page, "flash-sale-sold-out-phone")
