"""At a realistic size, no request's query plan scans a large table or sorts many of its rows: each list,
filter, sort, count and panel reads a bounded part of an index however large the shop grows (issue 18)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db import session_scope
from app.orders.models import Order
from app.traceability.models import BatchAllocation
from app.users.models import Role
from tests.scale.plans import captured_sql, explain_all, plan_problems
from tests.storefront.pages import log_in
from tests.users.factories import DEFAULT_PASSWORD, create_user


async def staff_headers(client) -> dict[str, str]:
    staff = await create_user(role=Role.admin, nickname="店长")
    response = await client.post("/api/auth/login", json={"phone": staff.phone, "password": DEFAULT_PASSWORD})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def assert_bounded(client, path: str, **kwargs) -> object:
    """GET `path`; 200, and no plan of any SELECT it ran has a problem."""
    with captured_sql() as statements:
        response = await client.get(path, **kwargs)
    assert response.status_code == 200, response.text[:500]
    assert statements, f"{path} ran no SQL"
    problems = await explain_all(statements)
    assert not problems, f"{path} {kwargs.get('params')}:\n" + "\n".join(problems)
    return response


class TestThePlanJudge:
    """The judge itself (runs in every suite): a plan over a large table is caught, a bounded one passes."""

    def test_a_full_scan_of_a_large_table_is_a_problem(self):
        plan = {"query_block": {"table": {"table_name": "orders", "access_type": "ALL", "rows": 60000}}}
        assert plan_problems(plan) == ["full scan of orders (~60000 rows)"]

    def test_a_filesort_of_many_rows_is_a_problem(self):
        inner = {"table": {"table_name": "products", "access_type": "ref", "rows": 9000, "filtered": 100}}
        plan = {"query_block": {"read_sorted_file": {"filesort": {"sort_key": "x", **inner}}}}
        assert plan_problems(plan) and "products" in plan_problems(plan)[0]

    def test_small_tables_and_index_ranges_pass(self):
        plan = {
            "query_block": {
                "nested_loop": [
                    {"table": {"table_name": "categories", "access_type": "ALL", "rows": 7}},
                    {"table": {"table_name": "orders", "access_type": "ref", "rows": 30000}},
                ]
            }
        }
        assert plan_problems(plan) == []


@pytest.mark.scale
@pytest.mark.mysql_only
class TestCatalogueAtScale:
    @pytest.mark.parametrize("sort", [None, "newest", "sales", "price_asc", "price_desc"])
    @pytest.mark.parametrize("page", [1, 40])
    async def test_every_list_sort_reads_an_index_in_order(self, big_shop, client, sort, page):
        params = {"page": page, "size": 20} | ({"sort": sort} if sort else {})
        response = await assert_bounded(client, "/api/products", params=params)
        body = response.json()
        assert len(body["items"]) == 20 and body["total"] > 5000
        if sort == "price_asc":
            prices = [item["min_price_fen"] for item in body["items"]]
            assert prices == sorted(prices)
        if sort == "sales":
            sales = [item["sales"] for item in body["items"]]
            assert sales == sorted(sales, reverse=True)

    async def test_a_price_range_sorted_by_price(self, big_shop, client):
        params = {"min_price_fen": 5000, "max_price_fen": 6000, "sort": "price_asc"}
        response = await assert_bounded(client, "/api/products", params=params)
        assert all(5000 <= item["min_price_fen"] <= 6000 for item in response.json()["items"])

    @pytest.mark.parametrize("sort", ["sales", "price_asc", "newest"])
    async def test_a_category_sorted(self, big_shop, client, sort):
        category = (await client.get("/api/categories")).json()[0]["id"]
        response = await assert_bounded(
            client, "/api/products", params={"category_id": category, "sort": sort}
        )
        assert response.json()["items"]

    async def test_the_product_page(self, big_shop, client):
        first = (await client.get("/api/products", params={"sort": "sales"})).json()["items"][0]
        await assert_bounded(client, f"/api/products/{first['id']}")

    @pytest.mark.parametrize("q", ["稻花香", "daohuaxiang", "dhx", "米", "稻花香 wuchang"])
    async def test_search_reads_the_full_text_index(self, big_shop, client, q):
        response = await assert_bounded(client, "/api/products", params={"q": q})
        assert response.json()["items"]

    async def test_search_with_a_filter_reads_the_full_text_index(self, big_shop, client):
        category = (await client.get("/api/categories")).json()[0]["id"]
        await assert_bounded(client, "/api/products", params={"q": "稻花香", "category_id": category})


@pytest.mark.scale
@pytest.mark.mysql_only
class TestStaffListsAtScale:
    @pytest.mark.parametrize(
        "params",
        [
            {},
            {"page": 300},
            {"status": "paid"},
            {"status": "completed", "page": 100},
            {"status": "cancelled", "size": 100},
        ],
        ids=["first", "deep-page", "paid", "completed-deep", "cancelled-100"],
    )
    async def test_order_list_pages_and_counts(self, big_shop, client, params):
        headers = await staff_headers(client)
        response = await assert_bounded(client, "/api/admin/orders", params=params, headers=headers)
        body = response.json()
        assert body["items"], body
        ids = [order["id"] for order in body["items"]]
        assert ids == sorted(ids, reverse=True)
        if "status" in params:
            assert {order["status"] for order in body["items"]} == {params["status"]}

    async def test_cursor_pages_follow_each_other_without_gaps(self, big_shop, client):
        headers = await staff_headers(client)
        first = (await client.get("/api/admin/orders", params={"size": 50}, headers=headers)).json()
        assert first["total_exact"] is False and first["total"] == 10_000
        after = await assert_bounded(
            client, "/api/admin/orders", params={"size": 50, "after": first["next_cursor"]}, headers=headers
        )
        by_offset = (
            await client.get("/api/admin/orders", params={"size": 50, "page": 2}, headers=headers)
        ).json()
        assert [o["id"] for o in after.json()["items"]] == [o["id"] for o in by_offset["items"]]

    async def test_one_day_and_one_phone(self, big_shop, client):
        headers = await staff_headers(client)
        newest = (await client.get("/api/admin/orders", params={"size": 1}, headers=headers)).json()["items"][
            0
        ]
        day = newest["created_at"][:10]
        await assert_bounded(
            client, "/api/admin/orders", params={"date_from": day, "date_to": day}, headers=headers
        )
        phone = newest["address"]["phone"]
        by_phone = await assert_bounded(client, "/api/admin/orders", params={"phone": phone}, headers=headers)
        assert newest["id"] in [o["id"] for o in by_phone.json()["items"]]

    async def test_the_recall_list_of_the_busiest_batch(self, big_shop, client):
        async with session_scope() as session:
            batch_id = (
                await session.execute(
                    select(BatchAllocation.batch_id)
                    .group_by(BatchAllocation.batch_id)
                    .order_by(func.count().desc())
                    .limit(1)
                )
            ).scalar_one()
        headers = await staff_headers(client)
        await assert_bounded(client, f"/api/admin/batches/{batch_id}/orders", headers=headers)


@pytest.mark.scale
@pytest.mark.mysql_only
class TestDashboardAtScale:
    @pytest.mark.xfail(
        strict=True,
        reason="orders by status sums every (day, status) figure row, ~2,500 a year: a per-status row is "
        "still to do (issue 18, dash helper)",
    )
    async def test_every_panel_reads_an_index(self, big_shop, client):
        await log_in(client, await create_user(role=Role.merchant, nickname="店员"))
        response = await assert_bounded(client, "/admin/")
        text = response.text
        assert "今日订单" in text and "库存不足" in text and "可疑溯源码" in text and "证书到期提醒" in text
        # Orders by status: the maintained figures, exact however many orders there are.
        async with session_scope() as session:
            completed = (
                await session.execute(
                    select(func.count()).select_from(Order).where(Order.status == "completed")
                )
            ).scalar_one()
        assert completed > 10_000 and f"{completed:,}" in text
        assert "扫描" in text  # seeded flagged codes are listed

    async def test_the_staff_order_page_pages_by_cursor_past_the_count(self, big_shop, client):
        await log_in(client, await create_user(role=Role.merchant, nickname="店员"))
        response = await assert_bounded(client, "/admin/orders")
        assert "超过 10,000 个订单" in response.text and "更早的订单" in response.text
