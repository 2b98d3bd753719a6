"""The public catalogue as the contract shapes it: categories, the product list (filters, sorts, pages) and
the product detail."""

from __future__ import annotations

import pytest

from tests.catalog.factories import create_category, create_product
from tests.problems import assert_problem

LIST_ITEM_FIELDS = {
    "id",
    "name",
    "subtitle",
    "cover_image",
    "min_price_fen",
    "origin",
    "variety",
    "sales",
    "rating_avg",
    "rating_count",
}
DETAIL_FIELDS = {
    "id",
    "name",
    "subtitle",
    "description",
    "category_id",
    "origin",
    "variety",
    "images",
    "skus",
    "certificates",
    "batches",
}


def names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


class TestCategories:
    async def test_lists_the_tree_as_id_name_parent(self, client):
        rice = await create_category(name="大米")
        wuchang = await create_category(name="五常大米", parent=rice)
        response = await client.get("/api/categories")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == [
            {"id": rice.id, "name": "大米", "parent_id": None},
            {"id": wuchang.id, "name": "五常大米", "parent_id": rice.id},
        ]


class TestProductList:
    async def test_item_shape_and_only_published(self, client):
        shown = await create_product(name="五常大米 稻花香2号")
        await create_product(name="草稿米", status="draft")
        await create_product(name="下架米", status="archived")
        response = await client.get("/api/products")
        assert response.status_code == 200
        body = response.json()
        assert body["total"] == 1 and body["page"] == 1 and body["size"] == 20
        (item,) = body["items"]
        assert set(item) == LIST_ITEM_FIELDS
        assert item["id"] == shown.id and item["min_price_fen"] == 12800 and item["sales"] == 0
        assert item["origin"] == "黑龙江五常" and item["variety"] == "稻花香2号"

    async def test_min_price_is_the_cheapest_active_sku(self, client):
        await create_product(
            skus=[
                {"name": "10kg", "price_fen": 23800, "stock": 5, "weight_g": 10000},
                {"name": "2.5kg", "price_fen": 6990, "stock": 5, "weight_g": 2500},
                {"name": "1kg 停售", "price_fen": 100, "stock": 5, "weight_g": 1000, "is_active": False},
            ]
        )
        (item,) = (await client.get("/api/products")).json()["items"]
        assert item["min_price_fen"] == 6990

    async def test_category_filter_includes_the_subtree(self, client):
        rice = await create_category(name="大米")
        wuchang = await create_category(name="五常大米", parent=rice)
        grains = await create_category(name="杂粮")
        await create_product(name="稻花香", category=wuchang)
        await create_product(name="普通大米", category=rice)
        await create_product(name="小米", category=grains)
        assert sorted(names(await client.get(f"/api/products?category_id={rice.id}"))) == [
            "普通大米",
            "稻花香",
        ]
        assert names(await client.get(f"/api/products?category_id={wuchang.id}")) == ["稻花香"]
        assert names(await client.get("/api/products?category_id=999999")) == []

    async def test_price_range_is_inclusive(self, client):
        for name, price in (("便宜", 3000), ("中等", 6000), ("贵", 12000)):
            await create_product(
                name=name, skus=[{"name": "5kg", "price_fen": price, "stock": 1, "weight_g": 5000}]
            )
        got = names(await client.get("/api/products?min_price_fen=3000&max_price_fen=6000&sort=price_asc"))
        assert got == ["便宜", "中等"]
        assert names(await client.get("/api/products?min_price_fen=6001")) == ["贵"]

    async def test_origin_filter(self, client):
        await create_product(name="五常米", origin="黑龙江五常")
        await create_product(name="盘锦米", origin="辽宁盘锦")
        assert names(await client.get("/api/products?origin=五常")) == ["五常米"]
        assert names(await client.get("/api/products?origin=%25")) == []

    @pytest.mark.parametrize(
        "sort, expected",
        [
            ("price_asc", ["A", "B", "C"]),
            ("price_desc", ["C", "B", "A"]),
            ("sales", ["B", "C", "A"]),
            ("newest", ["C", "B", "A"]),
        ],
    )
    async def test_sorts(self, client, sort, expected):
        for name, price, sales in (("A", 1000, 1), ("B", 2000, 50), ("C", 3000, 7)):
            await create_product(
                name=name,
                sales_count=sales,
                skus=[{"name": "1", "price_fen": price, "stock": 1, "weight_g": 1}],
            )
        assert names(await client.get(f"/api/products?sort={sort}")) == expected

    async def test_pages(self, client):
        for i in range(5):
            await create_product(name=f"米{i}")
        body = (await client.get("/api/products?page=2&size=2&sort=price_asc")).json()
        assert body["total"] == 5 and body["page"] == 2 and body["size"] == 2 and len(body["items"]) == 2
        assert (await client.get("/api/products?page=4&size=2")).json()["items"] == []

    @pytest.mark.parametrize(
        "query",
        [
            "size=101",
            "size=0",
            "page=0",
            "sort=cheapest",
            "min_price_fen=-1",
            "category_id=abc",
            "max_price_fen=1.5",
        ],
    )
    async def test_bad_parameters_are_422(self, client, query):
        assert_problem(await client.get(f"/api/products?{query}"), 422, "validation_error")


class TestProductDetail:
    async def test_shape_with_skus_and_empty_traceability(self, client):
        category = await create_category(name="大米")
        product = await create_product(
            category=category,
            skus=[
                {"name": "5kg 真空包装", "price_fen": 12800, "stock": 30, "weight_g": 5000},
                {"name": "停售", "price_fen": 100, "stock": 1, "weight_g": 1, "is_active": False},
            ],
        )
        response = await client.get(f"/api/products/{product.id}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert DETAIL_FIELDS <= set(body)
        assert body["id"] == product.id and body["category_id"] == category.id
        assert body["description"].startswith("五常市")
        assert body["certificates"] == [] and body["batches"] == [] and body["images"] == []
        (sku,) = body["skus"]
        assert {"id", "name", "price_fen", "stock", "weight_g"} <= set(sku)
        assert (sku["name"], sku["price_fen"], sku["stock"], sku["weight_g"]) == (
            "5kg 真空包装",
            12800,
            30,
            5000,
        )

    @pytest.mark.parametrize("status", ["draft", "archived"])
    async def test_unpublished_is_404(self, client, status):
        product = await create_product(status=status)
        assert_problem(await client.get(f"/api/products/{product.id}"), 404, "product_not_found")

    async def test_unknown_is_404_and_bad_id_422(self, client):
        assert_problem(await client.get("/api/products/424242"), 404, "product_not_found")
        assert_problem(await client.get("/api/products/abc"), 422, "validation_error")
        assert_problem(await client.get("/api/products/0"), 422, "validation_error")
