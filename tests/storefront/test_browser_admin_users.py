"""An administrator manages accounts in a real browser: finds a customer by phone, makes them shop staff and
then disables the account; the menu entry is there for admins and absent for merchants."""

from __future__ import annotations

import re

import pytest

from app.users.models import Role
from tests.storefront.conftest import log_in_on_the_way, screenshot
from tests.users.factories import DEFAULT_PASSWORD, create_user

pytestmark = pytest.mark.browser


async def test_admin_finds_promotes_and_disables_an_account(new_page):
    admin = await create_user(role=Role.admin, nickname="管理员")
    customer = await create_user(phone="13712345678", nickname="小王")
    await create_user(phone="13899990000", nickname="别人")
    page = await new_page()

    await log_in_on_the_way(page, "/admin/users", admin.phone, DEFAULT_PASSWORD)
    assert await page.get_by_role("link", name="用户", exact=True).is_visible()

    await page.get_by_label("手机号").fill("137123")
    await page.get_by_role("button", name="筛选").click()
    await page.wait_for_url(re.compile(r"/admin/users\?phone=137123"))
    assert await page.get_by_text("共 1 个账户").is_visible()
    await screenshot(page, "admin-users")
    await page.get_by_role("link", name="13712345678").click()
    await page.wait_for_url(re.compile(rf"/admin/users/{customer.id}$"))

    await page.get_by_label("角色", exact=True).select_option(label="商家员工")
    await page.get_by_role("button", name="保存角色").click()
    await page.wait_for_url(re.compile(r"done=role"))
    assert await page.get_by_text("角色已修改").is_visible()
    assert await page.locator("#account-role").inner_text() == "商家员工"

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="停用账户").click()
    await page.wait_for_url(re.compile(r"done=disabled"))
    assert await page.locator("#account-status").inner_text() == "已停用"
    assert await page.get_by_role("button", name="重新启用").is_visible()

    # Their own account offers no way to lock themselves out.
    await page.goto(f"/admin/users/{admin.id}")
    assert await page.get_by_text("不能修改自己的角色").is_visible()
    assert await page.get_by_role("button", name="保存角色").count() == 0


async def test_merchants_see_no_user_management(new_page):
    merchant = await create_user(role=Role.merchant)
    page = await new_page()
    await log_in_on_the_way(page, "/admin/", merchant.phone, DEFAULT_PASSWORD)
    assert await page.get_by_role("link", name="订单", exact=True).is_visible()
    assert await page.get_by_role("link", name="用户", exact=True).count() == 0
    response = await page.goto("/admin/users")
    assert response.status == 403
    assert await page.get_by_text("无权访问").is_visible()
