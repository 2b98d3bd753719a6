"""Staff lists that can grow without bound (issue 18): the count stops at a cap and says so, and the pages
go on by cursor, in the same order as by page number, with nothing skipped or repeated."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db import session_scope
from app.flows import recall as recall_flow
from app.orders import staff as orders_staff
from app.seed_scale import seed_scale
from app.traceability.models import BatchAllocation
from app.users.models import Role
from tests.storefront.pages import log_in
from tests.users.factories import DEFAULT_PASSWORD, create_user


async def staff_headers(client) -> dict[str, str]:
    staff = await create_user(role=Role.admin, nickname="店长")
    response = await client.post("/api/auth/login", json={"phone": staff.phone, "password": DEFAULT_PASSWORD})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def shop():
    await seed_scale(products=20, orders=60, codes=0, seed=7)


class TestStaffOrderList:
    async def test_under_the_cap_the_total_is_exact(self, shop, client):
        body = (await client.get("/api/admin/orders", headers=await staff_headers(client))).json()
        assert body["total"] == 60 and body["total_exact"] is True
        assert body["next_cursor"] == str(body["items"][-1]["id"])

    async def test_over_the_cap_the_total_says_more_than(self, shop, client, monkeypatch):
        monkeypatch.setattr(orders_staff, "STAFF_COUNT_CAP", 25)
        body = (await client.get("/api/admin/orders", headers=await staff_headers(client))).json()
        assert body["total"] == 25 and body["total_exact"] is False

    @pytest.mark.parametrize("size", [1, 7, 20, 100])
    async def test_cursor_pages_cover_every_order_once_newest_first(self, shop, client, size):
        headers = await staff_headers(client)
        seen: list[int] = []
        params: dict = {"size": size}
        while True:
            body = (await client.get("/api/admin/orders", params=params, headers=headers)).json()
            seen += [order["id"] for order in body["items"]]
            if body["next_cursor"] is None:
                break
            params = {"size": size, "after": body["next_cursor"]}
        assert len(seen) == 60 and seen == sorted(set(seen), reverse=True)
        by_page = (
            await client.get("/api/admin/orders", params={"size": size, "page": 2}, headers=headers)
        ).json()
        assert [o["id"] for o in by_page["items"]] == seen[size : 2 * size]

    async def test_cursor_keeps_the_status_filter(self, shop, client):
        headers = await staff_headers(client)
        first = (
            await client.get("/api/admin/orders", params={"status": "completed", "size": 5}, headers=headers)
        ).json()
        after = (
            await client.get(
                "/api/admin/orders",
                params={"status": "completed", "size": 5, "after": first["next_cursor"]},
                headers=headers,
            )
        ).json()
        assert {o["status"] for o in first["items"] + after["items"]} == {"completed"}
        assert min(o["id"] for o in first["items"]) > max(o["id"] for o in after["items"])

    @pytest.mark.parametrize("bad", ["0", "-1", "x", "1e3", "99999999999999999999", " 5"])
    async def test_a_bad_cursor_is_a_422(self, shop, client, bad):
        response = await client.get(
            "/api/admin/orders", params={"after": bad}, headers=await staff_headers(client)
        )
        assert response.status_code == 422 and response.json()["code"] == "validation_error"

    async def test_the_back_office_page_goes_on_by_cursor_past_the_cap(self, shop, client, monkeypatch):
        monkeypatch.setattr(orders_staff, "STAFF_COUNT_CAP", 25)
        await log_in(client, await create_user(role=Role.merchant, nickname="店员"))
        page = await client.get("/admin/orders")
        assert "超过 25 个订单" in page.text and "更早的订单" in page.text
        link = page.text.split('href="/admin/orders?after=', 1)[1].split('"', 1)[0]
        older = await client.get(f"/admin/orders?after={link}")
        assert older.status_code == 200 and "最新订单" in older.text


class TestRecallList:
    async def test_cursor_pages_cover_every_order_of_the_batch_once(self, client, monkeypatch):
        await seed_scale(products=20, orders=200, codes=0, seed=3)
        async with session_scope() as session:
            batch_id, orders = (
                await session.execute(
                    select(BatchAllocation.batch_id, func.count(func.distinct(BatchAllocation.order_id)))
                    .group_by(BatchAllocation.batch_id)
                    .order_by(func.count().desc())
                    .limit(1)
                )
            ).one()
        assert orders > 10
        monkeypatch.setattr(recall_flow, "RECALL_COUNT_CAP", 10)
        headers = await staff_headers(client)
        seen: list[int] = []
        params: dict = {"size": 4}
        while True:
            body = (
                await client.get(f"/api/admin/batches/{batch_id}/orders", params=params, headers=headers)
            ).json()
            assert body["total"] == 10 and body["total_exact"] is False
            seen += [item["order_id"] for item in body["items"]]
            if body["next_cursor"] is None:
                break
            params = {"size": 4, "after": body["next_cursor"]}
        assert len(seen) == orders and seen == sorted(set(seen))
