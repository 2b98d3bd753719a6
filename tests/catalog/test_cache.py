"""The read-through cache: pages come from this process's memory or Redis, every write (from any process) is
seen at once, stock is always live, one rebuild at a time, and the shop keeps answering from the database when
Redis is gone."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from app.catalog import cache, reads
from app.db import session_scope
from app.redis import get_redis
from app.users.models import Role
from tests.catalog.factories import create_category, create_product, skus_of
from tests.catalog.test_images import picture
from tests.conftest import HAS_REDIS
from tests.users.factories import auth, create_user

needs_redis = pytest.mark.skipif(not HAS_REDIS, reason="needs Redis: set TEST_REDIS_URL")


async def sneak(sql: str, **params) -> None:
    """Change the database behind the service's back (no invalidation): only a cache would hide it."""
    async with session_scope() as session:
        await session.execute(text(sql), params)


async def warm(client, product_id: int) -> None:
    for url in (f"/api/products/{product_id}", "/api/products", "/api/products?q=wuchang", "/api/categories"):
        assert (await client.get(url)).status_code in (200, 404)


async def version() -> int:
    await cache.ensure_version_row()  # the clean-up after each test deletes every row
    async with session_scope() as session:
        return (await session.execute(text("SELECT version FROM catalog_version WHERE id = 1"))).scalar_one()


class TestPagesComeFromTheCache:
    async def test_list_and_detail_are_served_from_the_cache_until_a_write(self, client):
        product = await create_product(name="五常大米")
        await warm(client, product.id)
        await sneak("UPDATE products SET name = '偷改' WHERE id = :id", id=product.id)
        assert (await client.get(f"/api/products/{product.id}")).json()["name"] == "五常大米"
        assert (await client.get("/api/products")).json()["items"][0]["name"] == "五常大米"
        await cache.bump()
        assert (await client.get(f"/api/products/{product.id}")).json()["name"] == "偷改"
        assert (await client.get("/api/products")).json()["items"][0]["name"] == "偷改"

    @needs_redis
    async def test_redis_serves_a_process_that_has_not_seen_the_page(self, client):
        product = await create_product(name="五常大米")
        await warm(client, product.id)
        await sneak("UPDATE products SET name = '偷改' WHERE id = :id", id=product.id)
        cache.clear_local()  # as a freshly started process
        assert (await client.get(f"/api/products/{product.id}")).json()["name"] == "五常大米"

    async def test_pages_in_memory_expire_so_sales_counts_refresh(self, client, monkeypatch):
        product = await create_product()
        await warm(client, product.id)
        await sneak("UPDATE products SET sales_count = 42 WHERE id = :id", id=product.id)
        assert (await client.get("/api/products")).json()["items"][0]["sales"] == 0
        monkeypatch.setattr(cache, "L1_TTL_SECONDS", 0.0)
        shared = cache.get_redis()
        if shared is not None:  # the shared copy expires after its own TTL: skip the wait
            await shared.flushdb()
        await warm(client, product.id)
        assert (await client.get("/api/products")).json()["items"][0]["sales"] == 42

    @needs_redis
    async def test_ttl_has_jitter_within_bounds(self, client):
        product = await create_product()
        await warm(client, product.id)
        redis = get_redis()
        keys = [k async for k in redis.scan_iter(match=cache.PREFIX + "*:*")]
        ttls = [await redis.ttl(k) for k in keys if not k.endswith(b":lock")]
        assert ttls and all(
            cache.TTL_SECONDS - 5 <= t <= cache.TTL_SECONDS + cache.TTL_JITTER_SECONDS for t in ttls
        )

    async def test_a_miss_is_rebuilt_once_under_a_stampede(self, client, monkeypatch):
        product = await create_product()
        builds = 0
        real = reads._detail_template

        async def counting(product_id: int) -> bytes:
            nonlocal builds
            builds += 1
            await asyncio.sleep(0.05)
            return await real(product_id)

        monkeypatch.setattr(reads, "_detail_template", counting)
        responses = await asyncio.gather(*(client.get(f"/api/products/{product.id}") for _ in range(30)))
        assert all(r.status_code == 200 for r in responses)
        assert len({r.content for r in responses}) == 1
        assert builds == 1

    async def test_unknown_products_are_cached_too_and_appear_when_published(self, client):
        product = await create_product(status="draft")
        assert (await client.get(f"/api/products/{product.id}")).status_code == 404
        staff = auth(await create_user(role=Role.merchant))
        assert (
            await client.post(f"/api/admin/products/{product.id}/publish", headers=staff)
        ).status_code == 200
        assert (await client.get(f"/api/products/{product.id}")).status_code == 200


class TestTheVersion:
    async def test_a_write_committed_by_another_process_shows_at_once(self, client):
        """Another process's write bumps the version in its own transaction; this one reads it every time."""
        product = await create_product(name="五常大米")
        await warm(client, product.id)
        async with session_scope() as session:
            await session.execute(
                text("UPDATE products SET name = '新名' WHERE id = :id"), {"id": product.id}
            )
            await session.execute(text("UPDATE catalog_version SET version = version + 1 WHERE id = 1"))
        assert (await client.get(f"/api/products/{product.id}")).json()["name"] == "新名"
        assert (await client.get("/api/products")).json()["items"][0]["name"] == "新名"

    async def test_the_version_moves_with_the_commit_and_only_then(self):
        before = await version()
        with pytest.raises(RuntimeError):
            async with session_scope() as session:
                cache.invalidate(session)
                raise RuntimeError("the write fails")
        assert await version() == before
        async with session_scope() as session:
            cache.invalidate(session)
            cache.invalidate(session)
        assert await version() == before + 1

    async def test_a_rolled_back_savepoint_keeps_the_outer_invalidation(self):
        before = await version()
        async with session_scope() as session:
            cache.invalidate(session)
            savepoint = await session.begin_nested()
            await savepoint.rollback()
        assert await version() == before + 1

    async def test_reads_work_and_caching_resumes_when_the_row_is_gone(self, client):
        product = await create_product(name="五常大米")
        old = await version()
        await sneak("DELETE FROM catalog_version")
        assert (await client.get(f"/api/products/{product.id}")).json()["name"] == "五常大米"
        assert await version() > old
        await sneak("UPDATE products SET name = '偷改' WHERE id = :id", id=product.id)
        assert (await client.get(f"/api/products/{product.id}")).json()["name"] == "五常大米"  # cached again
        await sneak("DELETE FROM catalog_version")
        h = auth(await create_user(role=Role.merchant))
        response = await client.patch(f"/api/admin/products/{product.id}", json={"name": "改名"}, headers=h)
        assert response.status_code == 200
        assert (await client.get(f"/api/products/{product.id}")).json()["name"] == "改名"


class TestStockIsAlwaysLive:
    async def test_order_style_sql_updates_show_at_the_next_read(self, client):
        product = await create_product(
            skus=[
                {"name": "5kg", "price_fen": 12800, "stock": 10, "weight_g": 5000},
                {"name": "10kg", "price_fen": 23800, "stock": 4, "weight_g": 10000},
            ]
        )
        five, ten = await skus_of(product)
        await warm(client, product.id)
        for n in range(3):
            await sneak("UPDATE skus SET stock = stock - 1 WHERE id = :id AND stock >= 1", id=five.id)
            await sneak("UPDATE skus SET stock = stock + 2 WHERE id = :id", id=ten.id)  # a cancellation
            stock = [s["stock"] for s in (await client.get(f"/api/products/{product.id}")).json()["skus"]]
            assert stock == [10 - n - 1, 4 + 2 * (n + 1)]


# Each staff write, and what a customer must see right after it (no matter what was cached before).
async def _patch_name(client, h, p, sku, img):
    assert (
        await client.patch(f"/api/admin/products/{p.id}", json={"name": "新名字"}, headers=h)
    ).status_code == 200
    return lambda d, items: d["name"] == "新名字" and items[0]["name"] == "新名字"


async def _archive(client, h, p, sku, img):
    assert (await client.post(f"/api/admin/products/{p.id}/archive", headers=h)).status_code == 200
    return lambda d, items: d is None and items == []


async def _new_sku(client, h, p, sku, img):
    body = {"name": "1kg 尝鲜装", "price_fen": 2990, "stock": 3, "weight_g": 1000}
    assert (await client.post(f"/api/admin/products/{p.id}/skus", json=body, headers=h)).status_code == 201
    return lambda d, items: len(d["skus"]) == 2 and items[0]["min_price_fen"] == 2990


async def _sku_price(client, h, p, sku, img):
    assert (
        await client.patch(f"/api/admin/skus/{sku.id}", json={"price_fen": 9900}, headers=h)
    ).status_code == 200
    return lambda d, items: d["skus"][0]["price_fen"] == 9900 and items[0]["min_price_fen"] == 9900


async def _stock(client, h, p, sku, img):
    assert (
        await client.put(f"/api/admin/skus/{sku.id}/stock", json={"stock": 1}, headers=h)
    ).status_code == 200
    return lambda d, items: d["skus"][0]["stock"] == 1


async def _image(client, h, p, sku, img):
    files = {"file": ("a.png", picture("PNG"), "image/png")}
    response = await client.post(f"/api/admin/products/{p.id}/images", files=files, headers=h)
    assert response.status_code == 201
    url = response.json()["url"]
    return lambda d, items: [i["url"] for i in d["images"]][1:] == [url]


async def _reorder(client, h, p, sku, img):
    files = {"file": ("a.png", picture("PNG"), "image/png")}
    second = (await client.post(f"/api/admin/products/{p.id}/images", files=files, headers=h)).json()
    await warm(client, p.id)
    body = {"image_ids": [second["id"], img["id"]]}
    assert (
        await client.put(f"/api/admin/products/{p.id}/images/order", json=body, headers=h)
    ).status_code == 200
    return lambda d, items: d["cover_image"] == second["url"] and items[0]["cover_image"] == second["url"]


async def _delete_image(client, h, p, sku, img):
    assert (
        await client.delete(f"/api/admin/products/{p.id}/images/{img['id']}", headers=h)
    ).status_code == 204
    return lambda d, items: d["images"] == [] and d["cover_image"] is None and items[0]["cover_image"] is None


async def _category(client, h, p, sku, img):
    category = await client.post("/api/admin/categories", json={"name": "新分类"}, headers=h)
    assert category.status_code == 201
    moved = await client.patch(
        f"/api/admin/products/{p.id}", json={"category_id": category.json()["id"]}, headers=h
    )
    assert moved.status_code == 200
    return lambda d, items: d["category_id"] == category.json()["id"]


WRITES = [_patch_name, _archive, _new_sku, _sku_price, _stock, _image, _reorder, _delete_image, _category]


class TestNoStaleReadAfterAWrite:
    @pytest.mark.parametrize("write", WRITES, ids=[w.__name__.strip("_") for w in WRITES])
    async def test_change_then_read_at_once(self, client, write):
        h = auth(await create_user(role=Role.merchant))
        await create_category(name="大米")
        product = await create_product(name="五常大米")
        (sku,) = await skus_of(product)
        files = {"file": ("a.png", picture("PNG"), "image/png")}
        image = (await client.post(f"/api/admin/products/{product.id}/images", files=files, headers=h)).json()
        await warm(client, product.id)
        check = await write(client, h, product, sku, image)
        detail = await client.get(f"/api/products/{product.id}")
        items = (await client.get("/api/products")).json()["items"]
        assert check(detail.json() if detail.status_code == 200 else None, items)

    async def test_category_changes_show_at_once(self, client):
        h = auth(await create_user(role=Role.merchant))
        assert (await client.get("/api/categories")).json() == []
        created = (await client.post("/api/admin/categories", json={"name": "杂粮"}, headers=h)).json()
        assert [c["name"] for c in (await client.get("/api/categories")).json()] == ["杂粮"]
        await client.patch(f"/api/admin/categories/{created['id']}", json={"name": "五谷杂粮"}, headers=h)
        assert [c["name"] for c in (await client.get("/api/categories")).json()] == ["五谷杂粮"]
        await client.delete(f"/api/admin/categories/{created['id']}", headers=h)
        assert (await client.get("/api/categories")).json() == []


@needs_redis
class TestRedisDown:
    async def test_reads_fall_back_to_the_database(self, client, monkeypatch):
        product = await create_product()
        dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
        monkeypatch.setattr(cache, "get_redis", lambda: dead)
        monkeypatch.setattr(cache, "_down_until", 0.0)
        try:
            assert (await client.get(f"/api/products/{product.id}")).status_code == 200
            assert (await client.get("/api/products")).json()["total"] == 1
            assert (await client.get("/api/categories")).status_code == 200
            h = auth(await create_user(role=Role.merchant))
            response = await client.patch(
                f"/api/admin/products/{product.id}", json={"name": "改名"}, headers=h
            )
            assert response.status_code == 200
            assert (await client.get(f"/api/products/{product.id}")).json()["name"] == "改名"
        finally:
            await dead.aclose()
            cache._down_until = 0.0
