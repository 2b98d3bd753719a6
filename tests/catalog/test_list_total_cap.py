"""The public product list's `total` is a bounded count (issue 18): exact up to LIST_COUNT_CAP products,
past it the cap with `total_exact: false`, so a cache miss never counts every published product."""

from __future__ import annotations

from app.catalog import repository
from tests.catalog.factories import create_product


class TestListTotal:
    async def test_exact_below_the_cap(self, client):
        for _ in range(3):
            await create_product()
        body = (await client.get("/api/products")).json()
        assert body["total"] == 3 and body["total_exact"] is True

    async def test_capped_past_it(self, client, monkeypatch):
        monkeypatch.setattr(repository, "LIST_COUNT_CAP", 2)
        for _ in range(3):
            await create_product()
        body = (await client.get("/api/products", params={"size": 1})).json()
        assert body["total"] == 2 and body["total_exact"] is False
        page = await client.get("/products")
        assert "超过 2 件商品" in page.text
