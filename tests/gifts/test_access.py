"""Who may do what: every staff route refuses customers (403) and anonymous callers (401); every customer route
answers another company's request exactly like one that does not exist (404); the pages keep customers out of
the back office and another customer out of a request."""

from __future__ import annotations

import pytest

from app.users.models import Role
from tests.gifts.factories import create_request, quoted_request
from tests.orders.factories import sku_on_sale
from tests.storefront.pages import log_in
from tests.users.factories import auth, create_user

STAFF_ROUTES = [
    ("get", "/api/admin/custom-requests"),
    ("get", "/api/admin/custom-requests/{id}"),
    ("get", "/api/admin/custom-requests/{id}/recipients"),
    ("post", "/api/admin/custom-requests/{id}/quote"),
    ("post", "/api/admin/custom-requests/{id}/proof"),
    ("get", "/api/admin/custom-requests/{id}/proof"),
    ("get", "/api/admin/custom-requests/{id}/shipping-list.xlsx"),
]
CUSTOMER_ROUTES = [
    ("get", "/api/custom-requests/{id}"),
    ("post", "/api/custom-requests/{id}/recipients"),
    ("post", "/api/custom-requests/{id}/accept"),
    ("post", "/api/custom-requests/{id}/approve-proof"),
    ("get", "/api/custom-requests/{id}/proof"),
]


@pytest.mark.parametrize(("method", "path"), STAFF_ROUTES)
async def test_staff_routes_refuse_customers_and_anonymous(client, method, path):
    user, sku = await create_user(), await sku_on_sale()
    request = await create_request(client, user, sku)
    url = path.format(id=request["id"])
    assert (await client.request(method, url)).status_code == 401
    assert (await client.request(method, url, headers=auth(user))).status_code == 403


@pytest.mark.parametrize(("method", "path"), CUSTOMER_ROUTES)
async def test_another_companys_request_is_404_and_anonymous_401(client, method, path):
    owner, other, sku = await create_user(), await create_user(), await sku_on_sale()
    request = await quoted_request(client, owner, sku)
    url = path.format(id=request["id"])
    assert (await client.request(method, url)).status_code == 401
    response = await client.request(method, url, headers=auth(other))
    if method == "post" and path.endswith("/recipients"):
        response = await client.post(url, files={"file": ("a.csv", b"x", "text/csv")}, headers=auth(other))
    assert response.status_code == 404 and response.json()["code"] == "custom_request_not_found"
    unknown = await client.request(method, path.format(id=request["id"] + 999), headers=auth(owner))
    assert unknown.status_code in (404, 422)


class TestPages:
    async def test_customers_are_kept_out_of_the_back_office(self, client):
        await log_in(client, await create_user())
        assert (await client.get("/admin/custom-requests")).status_code == 403

    async def test_anonymous_visitors_are_sent_to_log_in(self, client):
        response = await client.get("/custom-requests", follow_redirects=False)
        assert response.status_code in (302, 303) and "/login" in response.headers["location"]

    async def test_another_customers_request_page_is_404(self, client):
        owner, other, sku = await create_user(), await create_user(), await sku_on_sale()
        request = await create_request(client, owner, sku)
        await log_in(client, other)
        assert (await client.get(f"/custom-requests/{request['id']}")).status_code == 404

    async def test_staff_see_the_list_with_progress(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku)
        await log_in(client, await create_user(role=Role.merchant, nickname="店员"))
        page = await client.get("/admin/custom-requests")
        assert page.status_code == 200 and f"#{request['id']}" in page.text and "0 / 20" in page.text


async def test_a_withdrawn_sku_cannot_be_accepted(client):
    from sqlalchemy import update

    from app.catalog.models import Sku
    from app.db import session_scope
    from tests.orders.factories import count_orders

    user, sku = await create_user(), await sku_on_sale()
    request = await quoted_request(client, user, sku)
    async with session_scope() as session:
        await session.execute(update(Sku).where(Sku.id == sku.id).values(is_active=False))
    response = await client.post(f"/api/custom-requests/{request['id']}/accept", headers=auth(user))
    assert response.status_code == 409 and response.json()["code"] == "sku_unavailable"
    assert await count_orders() == 0
