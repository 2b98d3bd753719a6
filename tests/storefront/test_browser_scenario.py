"""The whole purchase in a real browser: a customer on a phone registers, searches 稻花香, adds 2 bags,
checks out, pays in the sandbox and sees the order paid; staff ships it recording the batch; the customer
confirms receipt; a phone scans the bag's trace page."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from app.users.models import Role
from tests.catalog.factories import create_category, create_product
from tests.orders.factories import get_order
from tests.storefront.conftest import log_in_on_the_way, screenshot
from tests.traceability.factories import (
    create_batch,
    create_certificate,
    create_codes,
    create_event,
    create_plot,
    create_producer,
)
from tests.users.factories import DEFAULT_PASSWORD, create_user

pytestmark = pytest.mark.browser


async def shop_with_rice():
    rice = await create_category(name="五常大米")
    await create_category(name="杂粮")
    product = await create_product(
        name="五常大米 稻花香2号",
        category=rice,
        subtitle="2026 年新米 · 民乐乡核心产区",
        description="五常市民乐乡稻田种植，一年一季。\n米粒饱满，蒸煮后清香软糯。",
        grade="一级",
        harvest_year=2026,
        skus=[
            dict(name="5kg 真空包装", price_fen=12800, stock=50, weight_g=5000),
            dict(name="2.5kg 袋装", price_fen=5990, stock=8, weight_g=2500),
        ],
    )
    await create_product(
        name="五常长粒香 10kg",
        category=rice,
        variety="长粒香",
        skus=[dict(name="10kg", price_fen=19900, stock=20, weight_g=10000)],
    )
    await create_product(
        name="东北小米 2kg",
        variety="黄小米",
        description="东北黄小米，熬粥香浓。",
        skus=[dict(name="2kg", price_fen=3990, stock=30, weight_g=2000)],
    )
    producer = await create_producer(name="五常市民乐水稻种植合作社")
    batch = await create_batch(
        product=product,
        producer=producer,
        plot=await create_plot(producer, name="民乐3号地"),
        batch_no="WC2026001",
    )
    await create_event(batch)
    await create_event(
        batch,
        type="milled",
        occurred_at=datetime.fromisoformat("2026-10-08T09:00:00+08:00"),
        location="五常加工厂",
    )
    await create_certificate(product_id=product.id, number="GI-2026-0001")
    [code] = await create_codes(batch, 1)
    return product, batch, code


class TestPurchaseScenario:
    async def test_register_search_buy_pay_ship_and_confirm(self, new_page):
        product, batch, code = await shop_with_rice()
        staff = await create_user(role=Role.merchant, nickname="店长")

        # A customer on a phone.
        page = await new_page(phone=True)
        await page.goto("/")
        await screenshot(page, "home-phone", full_page=True)
        await page.get_by_role("link", name="注册").click()
        await page.get_by_label("手机号").fill("13800138777")
        await page.get_by_label("密码", exact=True).fill("a-long-password")
        await page.get_by_label("确认密码").fill("a-long-password")
        await page.get_by_role("button", name="注册并登录").click()
        await page.wait_for_url(re.compile(r"/$"))

        # Search from the header.
        await page.get_by_role("searchbox", name="搜索商品").fill("稻花香")
        await page.get_by_role("searchbox", name="搜索商品").press("Enter")
        await page.wait_for_url(re.compile(r"/products\?q="))
        assert await page.get_by_role("status").first.inner_text() == "共 1 件商品", await page.content()
        await screenshot(page, "search-phone")
        await page.get_by_role("link", name="五常大米 稻花香2号").click()
        await page.wait_for_url(re.compile(rf"/products/{product.id}$"))
        assert await page.get_by_role("heading", name="批次故事").is_visible()
        assert await page.get_by_text("民乐3号地").is_visible()
        await screenshot(page, "product-phone", full_page=True)

        # Two bags of the 5 kg SKU.
        await page.get_by_role("radio", name=re.compile("5kg 真空包装")).check()
        await page.get_by_label("数量").fill("2")
        await page.get_by_role("button", name="加入购物车").click()
        await page.wait_for_url(re.compile(r"/cart"))
        assert await page.locator("#cart-total").inner_text() == "¥256.00"
        await screenshot(page, "cart-phone")

        # Checkout: no address yet, add one, come back with it chosen.
        await page.get_by_role("link", name="去结算").click()
        await page.get_by_role("link", name="+ 新增收货地址").click()
        await page.get_by_label("收货人").fill("张三")
        await page.get_by_label("手机号").fill("13912345678")
        await page.get_by_label("省份").select_option("黑龙江省")
        await page.get_by_label("城市").fill("哈尔滨市")
        await page.get_by_label("区县").fill("五常市")
        await page.get_by_label("详细地址").fill("民乐乡 8 号")
        await page.get_by_role("button", name="保存地址").click()
        await page.wait_for_url(re.compile(r"/checkout\?address_id="))
        assert await page.get_by_role("radio", name=re.compile("张三")).is_checked()
        await screenshot(page, "checkout-phone", full_page=True)
        await page.get_by_role("button", name="提交订单").click()
        await page.wait_for_url(re.compile(r"/orders/\d+\?done=placed"))
        order_id = int(re.search(r"/orders/(\d+)", page.url).group(1))
        assert await page.locator("#order-status").inner_text() == "待付款"

        # Pay in the sandbox.
        await page.get_by_role("button", name=re.compile("去付款")).click()
        await page.wait_for_url(re.compile(r"/pay/sandbox/\d+"))
        await screenshot(page, "sandbox-pay-phone")
        await page.get_by_role("button", name="支付成功").click()
        await page.wait_for_url(re.compile(rf"/orders/{order_id}"))
        assert await page.locator("#order-status").inner_text() == "待发货"
        assert await page.get_by_text("付款成功").is_visible()
        assert (await get_order(order_id)).status == "paid"

        # Staff ship it from the back office, on a desktop.
        desk = await new_page()
        await log_in_on_the_way(desk, "/admin/", staff.phone, DEFAULT_PASSWORD)
        await screenshot(desk, "admin-dashboard")
        await desk.get_by_role("link", name="订单", exact=True).click()
        await desk.get_by_label("状态").select_option("paid")
        await desk.get_by_role("button", name="筛选").click()
        await screenshot(desk, "admin-orders")
        await desk.locator(f'a[href="/admin/orders/{order_id}"]').click()
        await desk.get_by_label("快递公司").select_option("顺丰速运")
        await desk.get_by_label("运单号").fill("SF1234567890")
        await desk.get_by_label(re.compile("的批次")).select_option(str(batch.id))
        await screenshot(desk, "admin-ship", full_page=True)
        await desk.get_by_role("button", name="确认发货").click()
        await desk.wait_for_url(re.compile(r"\?done=shipped"))
        assert await desk.locator("#order-status").inner_text() == "已发货"

        # The customer sees the tracking number and confirms receipt.
        await page.goto(f"/orders/{order_id}")
        assert await page.locator("#tracking-no").inner_text() == "SF1234567890"
        page.once("dialog", lambda dialog: dialog.accept())
        await page.get_by_role("button", name="确认收货").click()
        await page.wait_for_url(re.compile(r"\?done=received"))
        assert await page.locator("#order-status").inner_text() == "已完成"
        await screenshot(page, "order-phone", full_page=True)
        assert (await get_order(order_id)).status == "completed"

        # A phone scans the bag's QR code.
        scan = await new_page(phone=True)
        await scan.goto(f"/trace/{code}")
        assert await scan.get_by_role("heading", name="正品验证通过").is_visible()
        await screenshot(scan, "trace-phone", full_page=True)
