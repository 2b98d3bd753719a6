"""The demo shop: realistic shelves, drawn covers, and a second run changes nothing."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import func, select

from app.audit import AuditLog
from app.catalog.models import Category, Product, ProductImage, Sku
from app.catalog.seed import seed
from app.db import session_scope


async def counts() -> tuple[int, ...]:
    async with session_scope() as session:
        return tuple(
            [
                (await session.execute(select(func.count()).select_from(model))).scalar_one()
                for model in (Category, Product, Sku, ProductImage, AuditLog)
            ]
        )


class TestDemoShop:
    async def test_seeds_a_browsable_shop_once(self, client):
        async with session_scope() as session:
            await seed(session)
        first = await counts()
        async with session_scope() as session:
            await seed(session)
        assert await counts() == first
        assert first[1] >= 12

        body = (await client.get("/api/products", params={"size": 100})).json()
        assert body["total"] >= 12
        names = {item["name"] for item in body["items"]}
        for wanted in (
            "五常大米 稻花香2号",
            "五常大米 长粒香",
            "五常大米 圆粒香",
            "东北黄小米",
            "东北秋木耳",
            "企业礼盒 稻香臻选",
        ):
            assert wanted in names
        flagship = next(i for i in body["items"] if i["name"] == "五常大米 稻花香2号")
        detail = (await client.get(f"/api/products/{flagship['id']}")).json()
        assert {s["name"]: s["price_fen"] for s in detail["skus"]} == {
            "2.5kg 真空包装": 6980,
            "5kg 真空包装": 12800,
            "10kg 家庭装": 23800,
        }
        assert all(s["stock"] > 0 for s in detail["skus"])
        cover = await client.get(detail["cover_image"])
        assert cover.status_code == 200
        assert Image.open(io.BytesIO(cover.content)).size == (800, 800)

        rice = next(c for c in (await client.get("/api/categories")).json() if c["name"] == "大米")
        in_rice = (await client.get("/api/products", params={"category_id": rice["id"], "size": 100})).json()
        assert in_rice["total"] >= 6
        assert [
            i["name"] for i in (await client.get("/api/products", params={"q": "mue"})).json()["items"]
        ] == ["东北秋木耳"]
