"""Coupons in a real browser: staff create a 满减 coupon in the back office; a customer claims it in the
领券中心, checks out with it (pre-selected as the best), sees the discount on the order and the coupon
under 已使用; the back office shows it claimed and used."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.cart.models import CartItem
from app.db import session_scope, utcnow
from app.kit.time import SHOP_TZ
from app.users.models import Role
from tests.catalog.factories import create_product, create_sku
from tests.storefront.conftest import log_in_on_the_way, screenshot
from tests.users.factories import DEFAULT_PASSWORD, create_address, create_user

pytestmark = pytest.mark.browser


def _local(at) -> str:
    return at.astimezone(SHOP_TZ).strftime("%Y-%m-%dT%H:%M")


class TestCouponScenario:
    async def test_create_claim_check_out_with_it_and_see_the_discount(self, new_page):
        product = await create_product(name="五常大米 稻花香2号", skus=[])
        sku = await create_sku(product, price_fen=12800, stock=50)
        staff = await create_user(role=Role.merchant, nickname="店长")
        buyer = await create_user(nickname="买家")
        await create_address(buyer, recipient="张三")

        # Staff create 满200减30 in the back office.
        desk = await new_page()
        await log_in_on_the_way(desk, "/admin/coupons", staff.phone, DEFAULT_PASSWORD)
        now = utcnow()
        await desk.get_by_label("名称").fill("新米尝鲜 满200减30")
        await desk.get_by_label("类型").select_option("fixed")
        await desk.get_by_label(re.compile("^减免金额")).fill("30")
        await desk.get_by_label(re.compile("^使用门槛")).fill("200")
        await desk.get_by_label("开始时间").fill(_local(now - timedelta(hours=1)))
        await desk.get_by_label("结束时间").fill(_local(now + timedelta(days=7)))
        await desk.get_by_label("发行数量").fill("100")
        await desk.get_by_label("每人限领").fill("1")
        await desk.get_by_role("button", name="创建优惠券").click()
        await desk.wait_for_url(re.compile(r"/admin/coupons\?done=created"))
        assert await desk.get_by_role("cell", name=re.compile("满200减30")).first.is_visible()
        await screenshot(desk, "admin-coupons")

        # The customer claims it in the coupon centre.
        page = await new_page(phone=True)
        await log_in_on_the_way(page, "/account/coupons", buyer.phone, DEFAULT_PASSWORD)
        assert await page.get_by_text("没有未使用的优惠券").is_visible()
        await page.get_by_role("link", name="去领券中心").click()
        await page.get_by_role("button", name="立即领取").click()
        await page.wait_for_url(re.compile(r"/coupons\?done=claimed"))
        assert await page.get_by_text("领取成功").is_visible()
        await screenshot(page, "coupon-centre-phone")

        # Two bags in the cart; at checkout the coupon is chosen already and the discount shown.
        async with session_scope() as session:
            session.add(CartItem(user_id=buyer.id, sku_id=sku.id, quantity=2))
        await page.goto("/checkout")
        coupon = page.get_by_role("radio", name=re.compile("满200减30"))
        assert await coupon.is_checked()
        assert await page.locator("#checkout-discount").inner_text() == "-¥30.00"
        await screenshot(page, "checkout-coupon-phone", full_page=True)
        await page.get_by_role("button", name="提交订单").click()
        await page.wait_for_url(re.compile(r"/orders/\d+\?done=placed"))
        assert await page.get_by_text("-¥30.00").is_visible()

        # 我的优惠券: it is used now.
        await page.goto("/account/coupons?status=used")
        assert await page.get_by_text("新米尝鲜 满200减30").is_visible()

        # The back office counts it claimed and used.
        await desk.goto("/admin/coupons")
        assert await desk.locator('[data-usage="claimed"]').first.inner_text() == "1"
        assert await desk.locator('[data-usage="used"]').first.inner_text() == "1"
