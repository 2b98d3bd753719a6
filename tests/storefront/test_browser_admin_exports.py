"""Shop staff export every order in a real browser: the orders page starts a background export, its page
shows the progress and refreshes itself, and once the worker has written it the file downloads with every
order."""

from __future__ import annotations

import csv
import io
import re

import anyio
import pytest

from app.seed_scale import seed_scale
from app.users.models import Role
from app.worker import run_job
from tests.orders.test_export import all_order_nos
from tests.storefront.conftest import log_in_on_the_way, screenshot
from tests.users.factories import DEFAULT_PASSWORD, create_user

pytestmark = pytest.mark.browser


async def test_staff_start_watch_and_download_an_export(new_page):
    merchant = await create_user(role=Role.merchant, nickname="店员")
    await seed_scale(products=5, orders=25, codes=0, seed=11)
    page = await new_page()
    await log_in_on_the_way(page, "/admin/orders", merchant.phone, DEFAULT_PASSWORD)

    await page.get_by_label("导出格式").select_option("csv")
    await page.get_by_role("button", name="导出全部订单").click()
    await page.wait_for_url(re.compile(r"/admin/exports/\d+$"))
    assert "排队中" in await page.locator("#export-status").inner_text()
    assert await page.get_by_text("页面会自动刷新").is_visible()
    assert await page.get_by_role("link", name="下载文件").count() == 0

    assert await run_job("orders.run_exports") == 1  # the worker
    await page.get_by_text("已完成").wait_for()  # the page refreshed itself
    assert "25 / 25 个订单（100%）" in await page.locator("#export-status").inner_text()
    await screenshot(page, "admin-export")
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="下载文件").click()
    download = await download_info.value
    assert download.suggested_filename == "orders-all-all.csv"
    text = await anyio.Path(await download.path()).read_text(encoding="utf-8-sig")
    assert [row["order_no"] for row in csv.DictReader(io.StringIO(text))] == await all_order_nos()
