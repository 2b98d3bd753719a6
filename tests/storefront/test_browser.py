"""The shop in a real browser (chromium through playwright), against a real uvicorn."""

from __future__ import annotations

import pytest

from tests.storefront.conftest import screenshot

pytestmark = pytest.mark.browser


class TestAccountInTheBrowser:
    async def test_register_log_out_and_log_in_again_on_a_phone(self, new_page):
        page = await new_page(phone=True)
        await page.goto("/register")
        await screenshot(page, "register-phone")
        await page.get_by_label("手机号").fill("13800138123")
        await page.get_by_label("昵称").fill("稻香粉")
        await page.get_by_label("密码", exact=True).fill("a-long-password")
        await page.get_by_label("确认密码").fill("a-long-password")
        await page.get_by_role("button", name="注册并登录").click()
        await page.wait_for_url("**/")
        assert await page.get_by_role("link", name="我的订单").is_visible()
        cookies = {c["name"]: c for c in await page.context.cookies()}
        assert cookies["dx_session"]["httpOnly"] and cookies["dx_session"]["sameSite"] == "Lax"
        assert await page.evaluate("document.cookie") == ""  # nothing readable by scripts
        assert await page.evaluate("window.localStorage.length") == 0

        await page.get_by_role("button", name="退出").click()
        await page.wait_for_url("**/")
        await page.get_by_role("link", name="登录").click()
        await page.get_by_label("手机号").fill("13800138123")
        await page.get_by_label("密码").fill("wrong-password")
        await page.get_by_role("button", name="登录").click()
        assert await page.get_by_role("alert").inner_text() == "手机号或密码错误"
        await page.get_by_label("密码").fill("a-long-password")
        await page.get_by_role("button", name="登录").click()
        await page.wait_for_url("**/")
        assert await page.get_by_role("link", name="我的订单").is_visible()

    async def test_unknown_page_is_a_chinese_404(self, new_page):
        page = await new_page()
        response = await page.goto("/no-such-page")
        assert response.status == 404
        assert await page.get_by_role("heading", name="页面不存在").is_visible()

    async def test_keyboard_users_can_skip_to_the_content(self, new_page):
        page = await new_page()
        await page.goto("/login")
        await page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="跳到主要内容")
        assert await skip.evaluate("el => el === document.activeElement")
        assert await skip.is_visible()
