"""Choosing the province from the list, in a real browser: a customer whose old address names no province sees
it flagged, picks the province from the list, and adds another address the same way."""

from __future__ import annotations

import re

import pytest

from tests.storefront.conftest import log_in_on_the_way, screenshot
from tests.users.factories import DEFAULT_PASSWORD, create_address, create_user
from tests.users.test_address_provinces import _stored

pytestmark = pytest.mark.browser


class TestProvinceFromTheList:
    async def test_a_flagged_address_is_corrected_and_a_new_one_added_by_choosing_the_province(
        self, new_page
    ):
        user = await create_user()
        flagged = await create_address(user, province="乌鲁木齐", needs_correction=True, recipient="阿依古丽")
        page = await new_page(phone=True)
        await log_in_on_the_way(page, "/account/addresses", user.phone, DEFAULT_PASSWORD)

        warning = page.get_by_role("alert").filter(has_text="无法识别")
        assert "省份“乌鲁木齐”无法识别" in await warning.inner_text()
        await screenshot(page, "address-needs-correction-phone")
        await page.get_by_role("link", name="编辑 阿依古丽 的地址").click()
        await page.wait_for_url(re.compile(rf"/account/addresses/{flagged.id}/edit$"))
        province = page.get_by_label("省份")
        assert await province.input_value() == ""  # nothing chosen: the old text is no division
        assert await page.get_by_text("无法识别原来填写的省份，请从列表中重新选择").is_visible()
        assert await province.locator("option").count() == 35
        await province.select_option(label="新疆维吾尔自治区")
        await page.get_by_role("button", name="保存").click()
        await page.wait_for_url(re.compile(r"/account/addresses\?saved=1$"))
        assert await page.get_by_text("无法识别").count() == 0
        fixed = await _stored(flagged.id)
        assert (fixed.province, fixed.needs_correction) == ("新疆维吾尔自治区", False)

        # A new address: the province is picked from the same list (here with the keyboard).
        await page.get_by_label("收货人").fill("巴特尔")
        await page.get_by_label("手机号").fill("13912345678")
        await page.get_by_label("省份").focus()
        await page.get_by_label("省份").select_option("内蒙古自治区")
        await page.get_by_label("城市").fill("呼和浩特市")
        await page.get_by_label("区县").fill("新城区")
        await page.get_by_label("详细地址").fill("中山东路 5 号")
        await page.get_by_role("button", name="保存地址").click()
        await page.wait_for_url(re.compile(r"/account/addresses\?saved=1$"))
        assert await page.get_by_text("内蒙古自治区 呼和浩特市 新城区 中山东路 5 号").is_visible()
