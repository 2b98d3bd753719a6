from __future__ import annotations

from app.users.models import Role
from tests.storefront.pages import is_html, log_in
from tests.users.factories import create_user


class TestBackOfficeAccess:
    async def test_anonymous_is_sent_to_login(self, client):
        response = await client.get("/admin/")
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=/admin/"

    async def test_customer_gets_a_403_page(self, client):
        await log_in(client, await create_user())
        response = await client.get("/admin/")
        assert response.status_code == 403 and is_html(response)
        assert "无权访问" in response.text

    async def test_merchant_and_admin_see_the_dashboard(self, client):
        for role in (Role.merchant, Role.admin):
            client.cookies.clear()
            await log_in(client, await create_user(role=role))
            response = await client.get("/admin/")
            assert response.status_code == 200, response.text
            assert "今日概览" in response.text
            assert response.headers["cache-control"] == "private, no-store"
