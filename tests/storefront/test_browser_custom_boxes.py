"""Corporate gift boxes in a real browser: a company submits a request with a recipient list (a bad list first:
each bad row shown by its row number), staff quote and upload a proof, the company accepts (an order to pay),
staff confirm the bank transfer, the company approves the proof, staff ship each recipient's parcel and
download the courier's list."""

from __future__ import annotations

import re

import pytest

from tests.gifts.factories import csv_bytes, png_bytes, recipients, request_row
from tests.orders.factories import get_order, sku_on_sale, staff
from tests.storefront.conftest import log_in_on_the_way, screenshot
from tests.users.factories import DEFAULT_PASSWORD, create_user

pytestmark = pytest.mark.browser


def _file(name: str, data: bytes, mime: str) -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


class TestCustomBoxesFlow:
    async def test_request_quote_accept_pay_approve_and_ship_every_parcel(self, new_page):
        sku = await sku_on_sale()
        company = await create_user()
        merchant = await staff()
        page = await new_page()
        await log_in_on_the_way(page, "/custom-requests", company.phone, DEFAULT_PASSWORD)

        await page.get_by_label("公司名称").fill("哈尔滨稻香科技有限公司")
        await page.get_by_label("联系人").fill("王经理")
        await page.get_by_label("联系电话").fill("13800138000")
        await page.get_by_label("规格编号").fill(str(sku.id))
        await page.get_by_label("总盒数").fill("20")
        await page.get_by_label("包装文字（印在礼盒上）").fill("恭贺新春")
        rows = recipients(2, per=10)
        bad = [dict(rows[0]), dict(rows[1], phone="12345")]
        await page.get_by_label("收件人名单（CSV / Excel）").set_input_files(
            _file("list.csv", csv_bytes(bad), "text/csv")
        )
        await page.get_by_role("button", name="提交需求").click()
        assert await page.get_by_role("cell", name="第 3 行").is_visible()
        assert await page.get_by_text("收件人名单有误").is_visible()

        await page.get_by_label("收件人名单（CSV / Excel）").set_input_files(
            _file("list.csv", csv_bytes(rows), "text/csv")
        )
        await page.get_by_role("button", name="提交需求").click()
        await page.wait_for_url(re.compile(r"/custom-requests/\d+\?done=created$"))
        request_id = int(re.search(r"/custom-requests/(\d+)", page.url).group(1))
        assert await page.locator("#request-status").inner_text() == "待报价"

        admin = await new_page()
        await log_in_on_the_way(
            admin, f"/admin/custom-requests/{request_id}", merchant.phone, DEFAULT_PASSWORD
        )
        assert await admin.get_by_text("收件人已导入").is_visible()
        await admin.get_by_label("单价（元/盒）").fill("100")
        await admin.get_by_label("制版费（元）").fill("500")
        await admin.get_by_role("button", name="发送报价").click()
        await admin.wait_for_url(re.compile(r"done=quoted$"))
        await admin.get_by_label(re.compile("设计稿文件")).set_input_files(
            _file("proof.png", png_bytes(), "image/png")
        )
        await admin.get_by_role("button", name="上传设计稿").click()
        await admin.wait_for_url(re.compile(r"done=proof$"))

        await page.goto(f"/custom-requests/{request_id}")
        assert await page.locator("#quote-total").inner_text() == "¥2500.00"  # 100 × 20 + 500
        await page.get_by_role("button", name="接受报价并下单").click()
        await page.wait_for_url(re.compile(r"/orders/\d+\?done=placed$"))
        order_id = (await request_row(request_id)).order_id
        assert order_id is not None

        await admin.goto(f"/admin/custom-requests/{request_id}")
        await admin.get_by_label("银行流水号").fill("CMB-20261201-0001")
        await admin.get_by_role("button", name="确认到账").click()
        await admin.wait_for_url(re.compile(r"done=paid$"))
        assert (await get_order(order_id)).status == "paid"

        await page.goto(f"/custom-requests/{request_id}")
        await page.get_by_role("button", name="确认设计稿").click()
        await page.wait_for_url(re.compile(r"done=approved$"))
        assert await page.locator("#request-status").inner_text() == "制作中"

        await admin.goto(f"/admin/custom-requests/{request_id}")
        for index in (1, 2):
            await admin.get_by_label(f"运单号（第 {index} 位）").fill(f"SF10000000{index}")
            await admin.locator(f"#t-{index}").press("Enter")
            await admin.wait_for_url(re.compile(r"done=shipped"))
        assert await admin.locator("#ship-progress").inner_text() == "2 / 2"
        await screenshot(admin, "admin-custom-request")
        async with admin.expect_download() as download_info:
            await admin.get_by_role("link", name="下载发货清单（Excel）").click()
        download = await download_info.value
        assert download.suggested_filename == f"custom-{request_id}-shipping.xlsx"
        assert (await get_order(order_id)).status == "shipped"
