"""A new-harvest pre-sale in a real browser: the customer finds it on the product page, logs in, pays the
deposit in the sandbox, and after the balance window opens pays the balance from "我的预售"; the order is then
paid in full. The live server is its own process with its own clock: the harvest "comes" by moving the
pre-sale's dates back by the same amount (what moving the shop's clock forward would do)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from app.db import session_scope
from app.presales import tasks as presales_tasks
from app.presales.models import Presale
from tests.orders.factories import get_order, sku_on_sale
from tests.presales.factories import create_presale, remaining
from tests.storefront.conftest import screenshot
from tests.users.factories import DEFAULT_PASSWORD, create_address, create_user

pytestmark = pytest.mark.browser


async def _harvest_comes(presale_id: int, by: timedelta) -> None:
    """Every date of the pre-sale `by` earlier: the balance window is now open."""
    async with session_scope() as session:
        presale = await session.get(Presale, presale_id)
        await session.execute(
            update(Presale)
            .where(Presale.id == presale_id)
            .values(
                deposit_ends_at=presale.deposit_ends_at - by,
                balance_starts_at=presale.balance_starts_at - by,
                balance_ends_at=presale.balance_ends_at - by,
                ships_from=presale.ships_from - by,
            )
        )
        await presales_tasks.notify_balance_open(session)


class TestPresaleFlow:
    async def test_deposit_then_the_balance_when_its_window_opens(self, new_page):
        sku = await sku_on_sale(stock=20, price_fen=8800)
        presale = await create_presale(sku, quota=5)
        user = await create_user()
        await create_address(user, recipient="李四")
        page = await new_page(phone=True)

        await page.goto(f"/products/{sku.product_id}")
        assert await page.get_by_role("heading", name="新米预售").is_visible()
        assert await page.get_by_text("定金 ¥20.00").first.is_visible()
        await page.get_by_role("link", name="去预订").click()
        await page.wait_for_url(re.compile(rf"/presales/{presale.id}$"))
        await page.get_by_role("link", name="登录后预订").click()
        await page.get_by_label("手机号").fill(user.phone)
        await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await page.wait_for_url(re.compile(rf"/presales/{presale.id}$"))
        await screenshot(page, "presale-phone")

        await page.get_by_role("button", name="支付定金预订").click()
        await page.wait_for_url(re.compile(r"/presales/mine\?done=placed$"))
        assert await page.get_by_text("待付定金").is_visible()
        assert await remaining(presale.id) == 4
        await page.get_by_role("button", name="支付定金 ¥20.00").click()
        await page.wait_for_url(re.compile(r"/pay/sandbox/\d+"))
        await page.get_by_role("button", name="支付成功").click()
        await page.wait_for_url(re.compile(r"/orders/\d+"))
        order_id = int(re.search(r"/orders/(\d+)", page.url).group(1))
        assert (await get_order(order_id)).status == "deposit_paid"

        await page.goto("/presales/mine")
        assert await page.get_by_text("定金已付").is_visible()
        assert await page.get_by_role("button", name=re.compile("支付尾款")).count() == 0

        await _harvest_comes(presale.id, timedelta(days=21))
        await page.goto("/presales/mine")
        assert await page.get_by_text("待付尾款").is_visible()
        await screenshot(page, "my-presales-phone")
        await page.get_by_role("button", name=re.compile("支付尾款 ¥")).click()
        await page.wait_for_url(re.compile(r"/pay/sandbox/\d+"))
        await page.get_by_role("button", name="支付成功").click()
        await page.wait_for_url(re.compile(rf"/orders/{order_id}"))
        paid = await get_order(order_id)
        assert paid.status == "paid" and paid.paid_amount_fen == paid.total_fen
        await page.goto("/presales/mine")
        assert await page.get_by_text("已付全款").is_visible()
