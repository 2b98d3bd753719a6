"""Field adoption in a real browser: staff offer a plot's season in the back office; a customer on a phone
reads the plot's story, logs in, adopts a share and lands on the order; once it is paid, their adoptions page
shows the kilograms left and the plot's timeline, and they draw a delivery."""

from __future__ import annotations

import re

import pytest

from app.users.models import Role
from tests.adoptions.factories import field
from tests.orders.factories import pay
from tests.storefront.conftest import log_in_on_the_way, screenshot
from tests.users.factories import DEFAULT_PASSWORD, create_address, create_user

pytestmark = pytest.mark.browser


class TestAdoptAPlot:
    async def test_offer_adopt_pay_and_draw_a_delivery(self, new_page):
        farm = await field()
        clerk = await create_user(role=Role.merchant, nickname="店员")
        office = await new_page()
        await log_in_on_the_way(office, "/admin/adoption-plans", clerk.phone, DEFAULT_PASSWORD)
        await office.get_by_label("地块编号").fill(str(farm.plot.id))
        await office.get_by_label("计划名称").fill("民乐乡一亩田")
        await office.get_by_label("收获年份").fill("2026")
        await office.get_by_label("份数").fill("10")
        await office.get_by_label("每份价格（元）").fill("1980")
        await office.get_by_label("每份产量（公斤）").fill("50")
        await office.get_by_role("button", name="创建计划").click()
        await office.wait_for_url(re.compile(r"/admin/adoption-plans\?done=created$"))
        assert await office.get_by_text("认养计划已创建").is_visible()

        user = await create_user()
        await create_address(user, recipient="李四")
        page = await new_page(phone=True)
        await page.goto("/adoption")
        await page.get_by_role("link", name="民乐乡一亩田").click()
        await page.wait_for_url(re.compile(r"/adoption/\d+$"))
        plan_path = re.search(r"/adoption/\d+$", page.url).group(0)
        assert await page.get_by_text(farm.producer.name, exact=False).first.is_visible()
        assert await page.get_by_text("收割").first.is_visible()
        await screenshot(page, "adoption-plan-phone", full_page=True)

        await page.get_by_role("link", name="登录后认养").click()
        await page.get_by_label("手机号").fill(user.phone)
        await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await page.wait_for_url(re.compile(re.escape(plan_path) + "$"))
        await page.get_by_role("button", name="立即认养").click()
        await page.wait_for_url(re.compile(r"/orders/\d+\?done=placed$"))
        assert await page.get_by_text("¥1980.00").first.is_visible()
        order_id = int(re.search(r"/orders/(\d+)", page.url).group(1))
        await pay(order_id)

        await page.goto("/account/adoptions")
        assert await page.get_by_text("50 公斤", exact=True).is_visible()
        await page.get_by_label("提货公斤数").fill("10")
        await page.get_by_role("button", name="申请提货").click()
        await page.wait_for_url(re.compile(r"/account/adoptions\?done=delivered$"))
        assert await page.get_by_text("提货申请已提交").is_visible()
        assert await page.get_by_text("40 公斤", exact=True).is_visible()
        assert await page.get_by_text(f"批次 {farm.batch.batch_no}").first.is_visible()
        await screenshot(page, "my-adoptions-phone", full_page=True)
