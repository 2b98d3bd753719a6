"""Staff record a batch's story in the back office, in a real browser on a phone: a producer, its plot, a batch
of that plot and the batch's geographical-indication certificate; the public trace page then tells it."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from app.users.models import Role
from tests.catalog.factories import create_product
from tests.storefront.conftest import log_in_on_the_way, screenshot
from tests.traceability.factories import create_codes
from tests.users.factories import DEFAULT_PASSWORD, create_user

pytestmark = pytest.mark.browser


async def test_staff_on_a_phone_record_producer_plot_batch_and_certificate(new_page):
    product = await create_product(name="五常大米 稻花香2号 新米")
    staff = await create_user(role=Role.merchant, nickname="店长")
    page = await new_page(phone=True)

    await log_in_on_the_way(page, "/admin/producers", staff.phone, DEFAULT_PASSWORD)

    # A producer, then its plot.
    await page.get_by_label("名称").fill("五常市民乐水稻种植合作社")
    await page.get_by_label("产区").fill("黑龙江省五常市")
    await page.get_by_role("button", name="创建生产者").click()
    await page.wait_for_url(re.compile(r"/admin/producers/\d+"))
    assert await page.get_by_text("生产者已创建").is_visible()
    producer_id = int(re.search(r"/admin/producers/(\d+)", page.url).group(1))
    await page.get_by_label("地块名称").fill("民乐3号地")
    await page.get_by_label("面积（亩）").fill("12.5")
    await page.get_by_role("button", name="保存地块").click()
    await page.wait_for_url(re.compile(rf"/admin/producers/{producer_id}"))
    assert await page.get_by_role("cell", name="民乐3号地").is_visible()
    await screenshot(page, "admin-producer-phone", full_page=True)

    # A batch of that plot; a date out of order is refused first, with what was typed kept.
    await page.goto(f"/admin/batches/new?producer={producer_id}")
    await page.locator("select[name=product_id]").select_option(label=product.name)
    await page.get_by_label("地块（已有）").select_option(label="民乐3号地")
    await page.get_by_label("品种").fill("稻花香2号")
    await page.get_by_label("批次号").fill("WC-2026-0001")
    await page.get_by_label("数量（公斤）").fill("1000")
    await page.get_by_label("收割日期").fill("2026-10-01")
    await page.get_by_label("加工日期").fill("2026-09-20")
    await page.get_by_role("button", name="创建批次").click()
    assert await page.get_by_role("alert").first.is_visible()
    assert await page.get_by_label("批次号").input_value() == "WC-2026-0001"
    await page.get_by_label("加工日期").fill("2026-10-08")
    await page.get_by_role("button", name="创建批次").click()
    await page.wait_for_url(re.compile(r"/admin/batches/\d+"))
    assert await page.get_by_text("批次已创建").is_visible()
    batch_id = int(re.search(r"/admin/batches/(\d+)", page.url).group(1))

    # Its geographical-indication certificate.
    await page.goto("/admin/certificates")
    await page.get_by_label("证书类型").select_option(label="地理标志产品")
    await page.get_by_label("证书编号").fill("GI-2301-8888")
    await page.get_by_label("颁发机构").fill("国家知识产权局")
    await page.get_by_label("生效日期").fill("2026-01-01")
    await page.get_by_label("到期日期").fill("2030-12-31")
    await page.locator("select[name=batch_id]").select_option(label="WC-2026-0001")
    await page.get_by_role("button", name="登记证书").click()
    await page.wait_for_url(re.compile(r"/admin/certificates"))
    assert await page.get_by_text("证书已记录").is_visible()
    assert await page.get_by_role("cell", name="GI-2301-8888").is_visible()

    # A bag of the batch tells the story on the public trace page.
    [code] = await create_codes(SimpleNamespace(id=batch_id), 1)
    buyer = await new_page(phone=True)
    await buyer.goto(f"/trace/{code}")
    body = await buyer.locator("main").inner_text()
    for told in ("五常市民乐水稻种植合作社", "民乐3号地", "稻花香2号", "GI-2301-8888"):
        assert told in body, body
