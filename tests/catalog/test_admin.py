"""Staff maintain the catalogue: every write is validated strictly, audited, evented and seen at once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from app.audit import AuditLog
from app.catalog.models import Category, Product, Sku
from app.db import session_scope
from app.events import OutboxEvent
from app.users.models import Role
from tests.catalog.factories import create_category, create_product, skus_of
from tests.problems import assert_problem
from tests.users.factories import auth, create_user

NEW_PRODUCT = {
    "name": "五常大米 稻花香2号",
    "subtitle": "2026 新米 当季现磨",
    "description": "黑龙江五常民乐乡核心产区，稻花香2号品种，米香浓郁。",
    "category_id": None,
    "origin": "黑龙江五常",
    "variety": "稻花香2号",
    "status": "published",
    "skus": [
        {"name": "2.5kg 真空包装", "price_fen": 6980, "stock": 50, "weight_g": 2500},
        {"name": "5kg 真空包装", "price_fen": 12800, "stock": 40, "weight_g": 5000},
    ],
}


@pytest.fixture
async def staff():
    return await create_user(role=Role.merchant)


@pytest.fixture
async def headers(staff):
    return auth(staff)


async def count(model) -> int:
    async with session_scope() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def events_of(event_type: str) -> list[dict]:
    async with session_scope() as session:
        rows = await session.execute(
            select(OutboxEvent).where(OutboxEvent.type == event_type).order_by(OutboxEvent.id)
        )
        return [e.data for e in rows.scalars()]


async def audit_entries(entity: str, entity_id: int) -> list[AuditLog]:
    async with session_scope() as session:
        rows = await session.execute(
            select(AuditLog)
            .where(AuditLog.entity == entity, AuditLog.entity_id == str(entity_id))
            .order_by(AuditLog.id)
        )
        return list(rows.scalars())


class TestCreateProduct:
    async def test_created_published_product_is_in_the_shop_at_once(self, client, headers, staff):
        category = await create_category(name="大米")
        response = await client.post(
            "/api/admin/products", json={**NEW_PRODUCT, "category_id": category.id}, headers=headers
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "published" and body["min_price_fen"] == 6980
        assert [s["name"] for s in body["skus"]] == ["2.5kg 真空包装", "5kg 真空包装"]
        assert all(isinstance(s["id"], int) for s in body["skus"])
        detail = (await client.get(f"/api/products/{body['id']}")).json()
        assert [s["stock"] for s in detail["skus"]] == [50, 40]
        assert [i["id"] for i in (await client.get("/api/products")).json()["items"]] == [body["id"]]
        (published,) = await events_of("product.published")
        assert published["product_id"] == body["id"] and published["min_price_fen"] == 6980
        (entry,) = await audit_entries("product", body["id"])
        assert entry.actor_id == staff.id and entry.action == "product.create"
        assert entry.changes["name"] == {"before": None, "after": "五常大米 稻花香2号"}

    async def test_draft_is_hidden(self, client, headers):
        response = await client.post(
            "/api/admin/products", json={**NEW_PRODUCT, "status": "draft"}, headers=headers
        )
        assert response.status_code == 201
        assert_problem(await client.get(f"/api/products/{response.json()['id']}"), 404, "product_not_found")
        assert (await client.get("/api/products")).json()["total"] == 0
        assert await events_of("product.published") == []

    async def test_publishing_without_skus_is_409(self, client, headers):
        response = await client.post("/api/admin/products", json={**NEW_PRODUCT, "skus": []}, headers=headers)
        assert_problem(response, 409, "product_not_publishable")
        assert await count(Product) == 0

    async def test_unknown_category_is_422(self, client, headers):
        response = await client.post(
            "/api/admin/products", json={**NEW_PRODUCT, "category_id": 999}, headers=headers
        )
        assert_problem(response, 422, "unknown_category")
        assert await count(Product) == 0

    @pytest.mark.parametrize(
        "sku_change",
        [
            {"price_fen": 128.5},
            {"price_fen": 12800.0},
            {"price_fen": "12800"},
            {"price_fen": -1},
            {"price_fen": 0},
            {"price_fen": 100_000_001},
            {"price_fen": True},
            {"stock": -1},
            {"stock": 1.5},
            {"weight_g": 0},
            {"original_price_fen": 100},
            {"gtin": "abc"},
            {"colour": "white"},
        ],
    )
    async def test_bad_sku_is_422_and_creates_nothing(self, client, headers, sku_change):
        body = {**NEW_PRODUCT, "skus": [{**NEW_PRODUCT["skus"][0], **sku_change}]}
        assert_problem(
            await client.post("/api/admin/products", json=body, headers=headers), 422, "validation_error"
        )
        assert await count(Product) == 0 and await count(Sku) == 0

    @pytest.mark.parametrize(
        "change",
        [
            {"unknown": 1},
            {"name": ""},
            {"name": "x" * 101},
            {"status": "archived"},
            {"category_id": "1"},
            {"harvest_year": 1800},
        ],
    )
    async def test_bad_product_is_422(self, client, headers, change):
        response = await client.post("/api/admin/products", json={**NEW_PRODUCT, **change}, headers=headers)
        assert_problem(response, 422, "validation_error")
        assert await count(Product) == 0


class TestUpdateProduct:
    async def test_patch_changes_fields_reindexes_and_audits(self, client, headers, staff):
        product = await create_product(name="旧名字")
        await client.get(f"/api/products/{product.id}")  # cached
        response = await client.patch(
            f"/api/admin/products/{product.id}",
            json={"name": "五常大米 长粒香", "subtitle": "新米"},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        assert (await client.get(f"/api/products/{product.id}")).json()["name"] == "五常大米 长粒香"
        assert names_of(await client.get("/api/products?q=changlixiang")) == ["五常大米 长粒香"]
        (entry,) = await audit_entries("product", product.id)
        assert entry.action == "product.update" and entry.actor_id == staff.id
        assert entry.changes["name"] == {"before": "旧名字", "after": "五常大米 长粒香"}
        assert set(entry.changes) == {"name", "subtitle"}
        (updated,) = await events_of("product.updated")
        assert updated["product_id"] == product.id and updated["changed"] == ["name", "subtitle"]

    async def test_archive_hides_and_publish_restores(self, client, headers):
        product = await create_product()
        assert (await client.get(f"/api/products/{product.id}")).status_code == 200
        archived = await client.post(f"/api/admin/products/{product.id}/archive", headers=headers)
        assert archived.status_code == 200 and archived.json()["status"] == "archived"
        assert_problem(await client.get(f"/api/products/{product.id}"), 404, "product_not_found")
        assert (await client.get("/api/products")).json()["items"] == []
        staff_view = await client.get(f"/api/admin/products/{product.id}", headers=headers)
        assert staff_view.status_code == 200 and staff_view.json()["status"] == "archived"
        assert (
            await client.post(f"/api/admin/products/{product.id}/publish", headers=headers)
        ).status_code == 200
        assert (await client.get(f"/api/products/{product.id}")).status_code == 200

    @pytest.mark.parametrize("body", [{"name": None}, {"price": 1}, {"status": "gone"}, {"sort_weight": 1.5}])
    async def test_bad_patch_is_422_and_changes_nothing(self, client, headers, body):
        product = await create_product(name="原名")
        response = await client.patch(f"/api/admin/products/{product.id}", json=body, headers=headers)
        assert_problem(response, 422, "validation_error")
        async with session_scope() as session:
            assert (await session.get(Product, product.id)).name == "原名"

    async def test_unknown_product_is_404(self, client, headers):
        assert_problem(
            await client.patch("/api/admin/products/9999", json={"name": "x"}, headers=headers),
            404,
            "product_not_found",
        )


class TestStaffList:
    async def test_shows_every_status_and_filters(self, client, headers):
        await create_product(name="上架")
        await create_product(name="草稿", status="draft")
        await create_product(name="下架", status="archived")
        body = (await client.get("/api/admin/products?sort=price_asc", headers=headers)).json()
        assert body["total"] == 3 and {i["status"] for i in body["items"]} == {
            "published",
            "draft",
            "archived",
        }
        drafts = (await client.get("/api/admin/products?status=draft", headers=headers)).json()
        assert [i["name"] for i in drafts["items"]] == ["草稿"]


def names_of(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [i["name"] for i in response.json()["items"]]


class TestSkus:
    async def test_add_update_deactivate(self, client, headers):
        product = await create_product()
        added = await client.post(
            f"/api/admin/products/{product.id}/skus",
            json={
                "name": "10kg 家庭装",
                "price_fen": 23800,
                "original_price_fen": 25800,
                "stock": 8,
                "weight_g": 10000,
            },
            headers=headers,
        )
        assert added.status_code == 201, added.text
        sku_id = added.json()["id"]
        detail = (await client.get(f"/api/products/{product.id}")).json()
        assert [s["name"] for s in detail["skus"]] == ["5kg 真空包装", "10kg 家庭装"]
        cheaper = await client.patch(f"/api/admin/skus/{sku_id}", json={"price_fen": 9900}, headers=headers)
        assert cheaper.status_code == 200
        assert (await client.get(f"/api/products/{product.id}")).json()["min_price_fen"] == 9900
        assert (await client.get("/api/products")).json()["items"][0]["min_price_fen"] == 9900
        off = await client.post(f"/api/admin/skus/{sku_id}/deactivate", headers=headers)
        assert off.status_code == 200 and off.json()["is_active"] is False
        detail = (await client.get(f"/api/products/{product.id}")).json()
        assert [s["id"] for s in detail["skus"]] != [sku_id] and sku_id not in [
            s["id"] for s in detail["skus"]
        ]
        assert detail["min_price_fen"] == 12800
        actions = [e.action for e in await audit_entries("sku", sku_id)]
        assert actions == ["sku.create", "sku.update", "sku.update"]

    async def test_last_active_sku_of_a_published_product_stays(self, client, headers):
        product = await create_product()
        (sku,) = await skus_of(product)
        assert_problem(
            await client.post(f"/api/admin/skus/{sku.id}/deactivate", headers=headers),
            409,
            "product_not_publishable",
        )

    async def test_original_price_below_price_is_422(self, client, headers):
        product = await create_product()
        (sku,) = await skus_of(product)
        response = await client.patch(
            f"/api/admin/skus/{sku.id}", json={"original_price_fen": 100}, headers=headers
        )
        assert_problem(response, 422, "price_above_original")


class TestStock:
    async def test_staff_stock_change_shows_at_the_next_read(self, client, headers, staff):
        product = await create_product()
        (sku,) = await skus_of(product)
        assert (await client.get(f"/api/products/{product.id}")).json()["skus"][0]["stock"] == 100
        response = await client.put(f"/api/admin/skus/{sku.id}/stock", json={"stock": 7}, headers=headers)
        assert response.status_code == 200 and response.json()["stock"] == 7
        assert (await client.get(f"/api/products/{product.id}")).json()["skus"][0]["stock"] == 7
        (entry,) = await audit_entries("sku", sku.id)
        assert entry.changes == {"stock": {"before": 100, "after": 7}} and entry.actor_id == staff.id
        (low,) = await events_of("stock.low")
        assert low == {"sku_id": sku.id, "product_id": product.id, "stock": 7, "threshold": 10}
        await client.put(f"/api/admin/skus/{sku.id}/stock", json={"stock": 3}, headers=headers)
        assert len(await events_of("stock.low")) == 1  # once per crossing

    async def test_raw_sql_stock_update_like_an_order_shows_at_the_next_read(self, client):
        product = await create_product()
        (sku,) = await skus_of(product)
        assert (await client.get(f"/api/products/{product.id}")).json()["skus"][0]["stock"] == 100
        async with session_scope() as session:
            await session.execute(
                text("UPDATE skus SET stock = stock - :n WHERE id = :id AND stock >= :n"),
                {"n": 3, "id": sku.id},
            )
        assert (await client.get(f"/api/products/{product.id}")).json()["skus"][0]["stock"] == 97

    @pytest.mark.parametrize(
        "body", [{"stock": -1}, {"stock": 2.5}, {"stock": "5"}, {}, {"stock": 5, "x": 1}]
    )
    async def test_bad_stock_is_422(self, client, headers, body):
        product = await create_product()
        (sku,) = await skus_of(product)
        assert_problem(
            await client.put(f"/api/admin/skus/{sku.id}/stock", json=body, headers=headers),
            422,
            "validation_error",
        )
        assert (await skus_of(product))[0].stock == 100

    async def test_unknown_sku_is_404(self, client, headers):
        assert_problem(
            await client.put("/api/admin/skus/9999/stock", json={"stock": 1}, headers=headers),
            404,
            "sku_not_found",
        )


class TestCategoriesAdmin:
    async def test_crud(self, client, headers):
        rice = await client.post("/api/admin/categories", json={"name": "大米"}, headers=headers)
        assert rice.status_code == 201
        child = await client.post(
            "/api/admin/categories", json={"name": "五常", "parent_id": rice.json()["id"]}, headers=headers
        )
        assert child.status_code == 201
        assert [c["name"] for c in (await client.get("/api/categories")).json()] == ["大米", "五常"]
        renamed = await client.patch(
            f"/api/admin/categories/{child.json()['id']}", json={"name": "五常大米"}, headers=headers
        )
        assert renamed.json()["name"] == "五常大米"
        assert [c["name"] for c in (await client.get("/api/categories")).json()] == ["大米", "五常大米"]
        assert_problem(
            await client.delete(f"/api/admin/categories/{rice.json()['id']}", headers=headers),
            409,
            "category_in_use",
        )
        assert (
            await client.delete(f"/api/admin/categories/{child.json()['id']}", headers=headers)
        ).status_code == 204
        assert [c["name"] for c in (await client.get("/api/categories")).json()] == ["大米"]

    async def test_cycle_is_422(self, client, headers):
        top = await create_category(name="上")
        below = await create_category(name="下", parent=top)
        response = await client.patch(
            f"/api/admin/categories/{top.id}", json={"parent_id": below.id}, headers=headers
        )
        assert_problem(response, 422, "category_cycle")

    async def test_category_with_products_cannot_go(self, client, headers):
        category = await create_category()
        await create_product(category=category)
        assert_problem(
            await client.delete(f"/api/admin/categories/{category.id}", headers=headers),
            409,
            "category_in_use",
        )
        assert await count(Category) == 1


STAFF_ROUTES = [
    ("GET", "/api/admin/products", None),
    ("GET", "/api/admin/products/{product}", None),
    ("POST", "/api/admin/products", NEW_PRODUCT),
    ("PATCH", "/api/admin/products/{product}", {"name": "x"}),
    ("POST", "/api/admin/products/{product}/publish", None),
    ("POST", "/api/admin/products/{product}/archive", None),
    ("POST", "/api/admin/products/{product}/skus", {"name": "1kg", "price_fen": 100, "weight_g": 1000}),
    ("PATCH", "/api/admin/skus/{sku}", {"price_fen": 1}),
    ("POST", "/api/admin/skus/{sku}/deactivate", None),
    ("PUT", "/api/admin/skus/{sku}/stock", {"stock": 1}),
    ("POST", "/api/admin/categories", {"name": "x"}),
    ("PATCH", "/api/admin/categories/{category}", {"name": "x"}),
    ("DELETE", "/api/admin/categories/{category}", None),
    ("PUT", "/api/admin/products/{product}/images/order", {"image_ids": []}),
    ("DELETE", "/api/admin/products/{product}/images/1", None),
    ("POST", "/api/admin/products/{product}/images", None),
]


class TestStaffOnly:
    @pytest.mark.parametrize("method, path, body", STAFF_ROUTES)
    async def test_customer_403_anonymous_401_nothing_changed(self, client, method, path, body):
        category = await create_category(name="大米")
        product = await create_product(category=category)
        (sku,) = await skus_of(product)
        url = path.format(product=product.id, sku=sku.id, category=category.id)
        customer = await create_user()
        kwargs = {"json": body} if body is not None else {}
        if path.endswith("/images"):
            kwargs = {"files": {"file": ("a.png", b"\x89PNG\r\n", "image/png")}}
        assert_problem(await client.request(method, url, **kwargs), 401, "not_authenticated")
        assert_problem(await client.request(method, url, headers=auth(customer), **kwargs), 403, "forbidden")
        assert await count(Product) == 1 and await count(AuditLog) == 0
        assert (await skus_of(product))[0].stock == 100
