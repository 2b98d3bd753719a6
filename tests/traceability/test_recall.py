"""Recall: shipping records each line's batch (given, or first-expiry-first-out), and a batch lists its orders.
Also the checkout guard for expired GI certificates and the product detail's batches and certificates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.config import get_settings
from app.db import session_scope
from app.kit.time import shop_today
from app.traceability.models import Batch, BatchAllocation
from tests.orders import factories as of
from tests.problems import assert_problem
from tests.traceability import factories as f
from tests.traceability.helpers import count_rows
from tests.users.factories import auth

TODAY = shop_today()


async def quantity_left_g(batch_id: int) -> int:
    async with session_scope() as session:
        return (await session.execute(select(Batch.quantity_left_g).where(Batch.id == batch_id))).scalar_one()


async def ship(client, order_id: int, lines=None):
    body = {"carrier": "顺丰速运", "tracking_no": "SF1234567890"}
    if lines is not None:
        body["lines"] = lines
    return await client.post(f"/api/admin/orders/{order_id}/ship", json=body, headers=auth(await of.staff()))


class TestShipRecordsBatches:
    async def test_default_is_first_expiry_first_out_with_quantity_left(self, client):
        sku = await of.sku_on_sale(weight_g=5000)
        product = await session_get_product(sku.product_id)
        later = await f.create_batch(product=product, best_before_on=TODAY + timedelta(days=300))
        empty = await f.create_batch(
            product=product, best_before_on=TODAY + timedelta(days=10), quantity_left_g=0
        )
        first = await f.create_batch(product=product, best_before_on=TODAY + timedelta(days=50))
        user, address = await of.customer()
        order = await of.paid_order(client, user, address, sku, qty=2)

        response = await ship(client, order["id"])
        assert response.status_code == 200, response.text
        async with session_scope() as session:
            [allocation] = (await session.execute(select(BatchAllocation))).scalars().all()
        assert allocation.batch_id == first.id and allocation.quantity == 2 and allocation.chosen_by == "fefo"
        assert await quantity_left_g(first.id) == 1_000_000 - 10_000
        assert await quantity_left_g(later.id) == 1_000_000 and await quantity_left_g(empty.id) == 0

    async def test_a_batch_too_small_for_the_line_is_skipped(self, client):
        sku = await of.sku_on_sale(weight_g=5000)
        product = await session_get_product(sku.product_id)
        small = await f.create_batch(
            product=product, best_before_on=TODAY + timedelta(days=5), quantity_left_g=4000
        )
        big = await f.create_batch(product=product, best_before_on=TODAY + timedelta(days=90))
        user, address = await of.customer()
        order = await of.paid_order(client, user, address, sku)
        assert (await ship(client, order["id"])).status_code == 200
        async with session_scope() as session:
            [allocation] = (await session.execute(select(BatchAllocation))).scalars().all()
        assert allocation.batch_id == big.id and await quantity_left_g(small.id) == 4000

    async def test_staff_may_name_the_batch_of_a_line(self, client):
        sku = await of.sku_on_sale(weight_g=2500)
        product = await session_get_product(sku.product_id)
        await f.create_batch(product=product, best_before_on=TODAY + timedelta(days=5))
        chosen = await f.create_batch(product=product, best_before_on=TODAY + timedelta(days=200))
        user, address = await of.customer()
        order = await of.paid_order(client, user, address, sku, qty=3)
        response = await ship(client, order["id"], [{"sku_id": sku.id, "batch_id": chosen.id}])
        assert response.status_code == 200, response.text
        async with session_scope() as session:
            [allocation] = (await session.execute(select(BatchAllocation))).scalars().all()
        assert allocation.batch_id == chosen.id and allocation.chosen_by == "staff"
        assert await quantity_left_g(chosen.id) == 1_000_000 - 7_500

    async def test_product_without_batches_ships_with_none_recorded(self, client):
        sku = await of.sku_on_sale()
        user, address = await of.customer()
        order = await of.paid_order(client, user, address, sku)
        assert (await ship(client, order["id"])).status_code == 200
        assert await count_rows(BatchAllocation) == 0

    @pytest.mark.parametrize("problem", ["other_product", "unknown_batch", "unknown_line"])
    async def test_bad_batch_choice_ships_nothing(self, client, problem):
        sku = await of.sku_on_sale()
        product = await session_get_product(sku.product_id)
        own = await f.create_batch(product=product)
        other = await f.create_batch()
        user, address = await of.customer()
        order = await of.paid_order(client, user, address, sku)
        line, status, code = {
            "other_product": ({"sku_id": sku.id, "batch_id": other.id}, 422, "batch_of_another_product"),
            "unknown_batch": ({"sku_id": sku.id, "batch_id": 999_999}, 404, "batch_not_found"),
            "unknown_line": ({"order_item_id": 999_999, "batch_id": own.id}, 422, "unknown_order_line"),
        }[problem]
        assert_problem(await ship(client, order["id"], [line]), status, code)
        assert (await of.get_order(order["id"])).status == "paid"
        assert await count_rows(BatchAllocation) == 0
        assert await quantity_left_g(own.id) == 1_000_000


class TestRecallList:
    async def test_lists_every_order_that_received_the_batch(self, client):
        sku = await of.sku_on_sale()
        product = await session_get_product(sku.product_id)
        batch = await f.create_batch(product=product)
        other_batch = await f.create_batch()
        orders = []
        for _ in range(3):
            user, address = await of.customer()
            order = await of.paid_order(client, user, address, sku)
            assert (await ship(client, order["id"])).status_code == 200
            orders.append(order)
        staff = auth(await of.staff())
        response = await client.get(f"/api/admin/batches/{batch.id}/orders", headers=staff)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == 3 and [o["order_no"] for o in body["items"]] == [
            o["order_no"] for o in orders
        ]
        first = body["items"][0]
        assert first["status"] == "shipped" and first["recipient"] == "李四" and first["shipped_at"]
        assert first["lines"][0]["sku_id"] == sku.id and first["lines"][0]["quantity"] == 1
        empty = (await client.get(f"/api/admin/batches/{other_batch.id}/orders", headers=staff)).json()
        assert empty["total"] == 0 and empty["items"] == []
        assert_problem(
            await client.get("/api/admin/batches/999999/orders", headers=staff), 404, "batch_not_found"
        )

    async def test_staff_only(self, client):
        from app.users.models import Role
        from tests.users.factories import create_user

        assert_problem(await client.get("/api/admin/batches/1/orders"), 401, "not_authenticated")
        customer = await create_user(role=Role.customer)
        assert_problem(
            await client.get("/api/admin/batches/1/orders", headers=auth(customer)), 403, "forbidden"
        )


class TestCheckoutGuard:
    async def test_expired_gi_blocks_checkout_only_with_the_setting(self, client, monkeypatch):
        sku = await of.sku_on_sale()
        await f.create_certificate(product_id=sku.product_id, valid_until=TODAY - timedelta(days=1))
        user, address = await of.customer()
        monkeypatch.setattr(get_settings(), "block_sale_on_expired_gi", True)
        body = assert_problem(
            await of.place(client, user, address, [(sku.id, 1)]), 409, "gi_certificate_expired"
        )
        assert body["product_ids"] == [sku.product_id]
        assert await of.count_orders() == 0 and await of.stock_of(sku.id) == 100
        monkeypatch.setattr(get_settings(), "block_sale_on_expired_gi", False)
        assert (await of.place(client, user, address, [(sku.id, 1)])).status_code == 201


class TestProductDetail:
    async def test_product_page_shows_batches_and_certificates(self, client):
        sku = await of.sku_on_sale()
        product = await session_get_product(sku.product_id)
        producer = await f.create_producer(name="示例合作社")
        batch = await f.create_batch(product=product, producer=producer)
        await f.create_certificate(producer_id=producer.id, number="GI-9")
        detail = (await client.get(f"/api/products/{product.id}")).json()
        assert [b["batch_no"] for b in detail["batches"]] == [batch.batch_no]
        assert detail["batches"][0]["producer"]["name"] == "示例合作社"
        assert [c["number"] for c in detail["certificates"]] == ["GI-9"]

    async def test_a_new_certificate_shows_at_the_next_read(self, client):
        sku = await of.sku_on_sale()
        assert (await client.get(f"/api/products/{sku.product_id}")).json()["certificates"] == []
        staff = auth(await of.staff())
        response = await client.post(
            "/api/admin/certificates",
            json={
                "kind": "organic",
                "number": "ORG-7",
                "issuer": "x",
                "valid_from": "2026-01-01",
                "valid_until": (TODAY + timedelta(days=9)).isoformat(),
                "product_id": sku.product_id,
            },
            headers=staff,
        )
        assert response.status_code == 201
        certs = (await client.get(f"/api/products/{sku.product_id}")).json()["certificates"]
        assert [c["number"] for c in certs] == ["ORG-7"]


async def session_get_product(product_id: int):
    from app.catalog.models import Product

    async with session_scope() as session:
        return await session.get(Product, product_id)
