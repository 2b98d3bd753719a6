"""POST /api/orders: checkout as the contract says."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.cart.models import CartItem
from app.catalog.models import ProductStatus
from app.config import get_settings
from app.db import session_scope, utcnow
from app.orders.models import OrderHistory
from tests.catalog.factories import create_product, create_sku
from tests.orders.factories import (
    count_orders,
    customer,
    place,
    set_stock,
    sku_on_sale,
    stock_of,
)
from tests.problems import assert_problem
from tests.users.factories import auth, create_address, create_user

CONTRACT_ORDER_FIELDS = {
    "id",
    "order_no",
    "status",
    "items",
    "subtotal_fen",
    "shipping_fen",
    "discount_fen",
    "total_fen",
    "address",
    "pay_deadline",
    "created_at",
    "paid_at",
    "shipped_at",
    "shipment",
}


class TestCreateOrder:
    async def test_places_an_order_with_price_and_address_snapshots(self, client):
        user, address = await customer()
        a = await sku_on_sale(price_fen=5990, stock=10)
        b = await sku_on_sale(price_fen=2500, stock=10)
        response = await place(client, user, address, [(a.id, 2), (b.id, 1)], note="请周末送")
        assert response.status_code == 201, response.text
        order = response.json()
        assert CONTRACT_ORDER_FIELDS <= order.keys()
        assert order["status"] == "pending_payment"
        assert [
            (i["sku_id"], i["quantity"], i["unit_price_fen"], i["subtotal_fen"]) for i in order["items"]
        ] == [
            (a.id, 2, 5990, 11980),
            (b.id, 1, 2500, 2500),
        ]
        assert order["subtotal_fen"] == 14480
        assert order["shipping_fen"] == 0  # over ¥99
        assert order["discount_fen"] == 0
        assert order["total_fen"] == 14480
        assert order["address"] == {
            "recipient": "李四",
            "phone": "13912345678",
            "province": "黑龙江省",
            "city": "哈尔滨市",
            "district": "五常市",
            "detail": "民乐朝鲜族乡 1 号",
        }
        assert order["note"] == "请周末送"
        assert order["paid_at"] is None and order["shipped_at"] is None and order["shipment"] is None
        assert [(h["from_status"], h["to_status"], h["actor_id"]) for h in order["history"]] == [
            (None, "pending_payment", user.id)
        ]
        assert await stock_of(a.id) == 8 and await stock_of(b.id) == 9

        # Later price and address changes do not touch the order.
        async with session_scope() as session:
            from app.catalog.models import Sku
            from app.users.models import Address

            (await session.get(Sku, a.id)).price_fen = 9990
            (await session.get(Address, address.id)).detail = "别处"
        again = await client.get(f"/api/orders/{order['id']}", headers=auth(user))
        assert again.status_code == 200
        assert again.json()["items"][0]["unit_price_fen"] == 5990
        assert again.json()["address"]["detail"] == "民乐朝鲜族乡 1 号"

    async def test_pay_deadline_follows_the_setting(self, client, monkeypatch):
        monkeypatch.setattr(get_settings(), "order_pay_timeout_minutes", 0.05)
        user, address = await customer()
        sku = await sku_on_sale()
        before = utcnow()
        response = await place(client, user, address, [(sku.id, 1)])
        from datetime import datetime

        deadline = datetime.fromisoformat(response.json()["pay_deadline"])
        assert before + timedelta(seconds=2) < deadline < utcnow() + timedelta(seconds=4)

    @pytest.mark.usefixtures("many_unpaid_orders")
    async def test_order_numbers_are_dated_unguessable_and_unique(self, client):
        user, address = await customer()
        sku = await sku_on_sale()
        numbers = [(await place(client, user, address, [(sku.id, 1)])).json()["order_no"] for _ in range(5)]
        assert len(set(numbers)) == 5
        for number in numbers:
            assert re.fullmatch(r"20\d{6}\d{12}", number)
        tails = sorted(int(n[8:]) for n in numbers)
        assert all(b - a > 1 for a, b in zip(tails, tails[1:], strict=False))

    @pytest.mark.parametrize(
        ("price", "qty", "province", "shipping"),
        [
            (5000, 1, "黑龙江省", 1000),
            (9900, 1, "黑龙江省", 0),
            (3300, 3, "北京市", 0),
            (9899, 1, "上海市", 1000),
            (5000, 1, "新疆维吾尔自治区", 2500),
            (20000, 1, "西藏自治区", 1500),
            (20000, 1, "内蒙古自治区", 1500),
        ],
    )
    async def test_shipping_fee_rules(self, client, price, qty, province, shipping):
        user, address = await customer(province=province)
        sku = await sku_on_sale(price_fen=price)
        order = (await place(client, user, address, [(sku.id, qty)])).json()
        assert order["shipping_fen"] == shipping
        assert order["total_fen"] == price * qty + shipping

    async def test_out_of_stock_reports_every_short_line_and_reserves_nothing(self, client):
        user, address = await customer()
        plenty = await sku_on_sale(stock=50)
        short_a = await sku_on_sale(stock=1)
        short_b = await sku_on_sale(stock=0)
        response = await place(client, user, address, [(short_b.id, 1), (plenty.id, 5), (short_a.id, 2)])
        body = assert_problem(response, 409, "out_of_stock")
        assert sorted(body["sku_ids"]) == sorted([short_a.id, short_b.id])
        assert await stock_of(plenty.id) == 50 and await stock_of(short_a.id) == 1
        assert await count_orders() == 0

    async def test_items_not_on_sale_are_409_and_change_nothing(self, client):
        user, address = await customer()
        ok = await sku_on_sale(stock=5)
        archived = await create_sku(await create_product(status=ProductStatus.archived.value, skus=[]))
        draft = await create_sku(await create_product(status=ProductStatus.draft.value, skus=[]))
        switched_off = await sku_on_sale(is_active=False)
        response = await place(
            client,
            user,
            address,
            [(ok.id, 1), (archived.id, 1), (draft.id, 1), (switched_off.id, 1), (999999, 1)],
        )
        body = assert_problem(response, 409, "sku_unavailable")
        assert body["sku_ids"] == sorted([archived.id, draft.id, switched_off.id, 999999])
        assert await stock_of(ok.id) == 5 and await count_orders() == 0

    async def test_only_unknown_items_are_409_not_an_address_problem(self, client):
        user, address = await customer()
        response = await place(client, user, address, [(999998, 1), (999999, 2)])
        assert assert_problem(response, 409, "sku_unavailable")["sku_ids"] == [999998, 999999]
        assert await count_orders() == 0

    @pytest.mark.parametrize(
        "extra",
        [
            {"total_fen": 1},
            {"subtotal_fen": 1},
            {"shipping_fen": 0},
            {"discount_fen": 99999},
            {"status": "paid"},
            {"paid_at": "2026-01-01T00:00:00Z"},
            {"order_no": "1"},
            {"user_id": 1},
        ],
    )
    async def test_client_cannot_set_prices_totals_or_status(self, client, extra):
        user, address = await customer()
        sku = await sku_on_sale(stock=5)
        response = await place(client, user, address, [(sku.id, 1)], **extra)
        assert_problem(response, 422, "validation_error")
        assert await count_orders() == 0 and await stock_of(sku.id) == 5

    async def test_client_cannot_set_a_line_price(self, client):
        user, address = await customer()
        sku = await sku_on_sale(stock=5)
        response = await client.post(
            "/api/orders",
            json={
                "address_id": address.id,
                "items": [{"sku_id": sku.id, "quantity": 1, "unit_price_fen": 1}],
            },
            headers=auth(user),
        )
        body = assert_problem(response, 422, "validation_error")
        assert any("unit_price_fen" in e["field"] for e in body["errors"])
        assert await count_orders() == 0

    @pytest.mark.parametrize(
        "items",
        [
            [],
            [{"sku_id": 1, "quantity": 0}],
            [{"sku_id": 1, "quantity": -1}],
            [{"sku_id": 1, "quantity": "2"}],
            [{"sku_id": 1, "quantity": 1.5}],
            [{"sku_id": "1", "quantity": 1}],
            [{"sku_id": 1, "quantity": 1}, {"sku_id": 1, "quantity": 2}],
            [{"sku_id": 1}],
            "all",
        ],
    )
    async def test_bad_items_are_422(self, client, items):
        user, address = await customer()
        await sku_on_sale()
        response = await client.post(
            "/api/orders", json={"address_id": address.id, "items": items}, headers=auth(user)
        )
        assert_problem(response, 422, "validation_error")
        assert await count_orders() == 0

    async def test_more_than_the_per_order_maximum_is_422(self, client, monkeypatch):
        monkeypatch.setattr(get_settings(), "order_max_quantity_per_sku", 3)
        user, address = await customer()
        sku = await sku_on_sale(stock=50)
        body = assert_problem(
            await place(client, user, address, [(sku.id, 4)]), 422, "quantity_limit_exceeded"
        )
        assert body["sku_ids"] == [sku.id]
        assert await stock_of(sku.id) == 50

    async def test_another_customers_address_is_404(self, client):
        user, _ = await customer()
        other = await create_user()
        theirs = await create_address(other)
        sku = await sku_on_sale()
        assert_problem(await place(client, user, theirs, [(sku.id, 1)]), 404, "address_not_found")
        assert await count_orders() == 0

    async def test_coupon_null_is_fine_and_an_unknown_coupon_is_422(self, client):
        user, address = await customer()
        sku = await sku_on_sale(stock=5)
        assert (await place(client, user, address, [(sku.id, 1)], coupon_code=None)).status_code == 201
        body = assert_problem(
            await place(client, user, address, [(sku.id, 1)], coupon_code="NOPE"), 422, "coupon_not_found"
        )
        assert body["coupon_code"] == "NOPE"
        assert await count_orders() == 1 and await stock_of(sku.id) == 4

    async def test_anonymous_is_401(self, client):
        response = await client.post(
            "/api/orders", json={"address_id": 1, "items": [{"sku_id": 1, "quantity": 1}]}
        )
        assert_problem(response, 401, "not_authenticated")


class TestCheckoutTheCart:
    async def test_buys_the_whole_cart_and_empties_it(self, client):
        user, address = await customer()
        a = await sku_on_sale(price_fen=5990, stock=10)
        b = await sku_on_sale(price_fen=1990, stock=10)
        for sku, qty in ((a, 2), (b, 3)):
            assert (
                await client.put(f"/api/cart/items/{sku.id}", json={"quantity": qty}, headers=auth(user))
            ).status_code == 200
        response = await client.post("/api/orders", json={"address_id": address.id}, headers=auth(user))
        assert response.status_code == 201, response.text
        order = response.json()
        assert sorted((i["sku_id"], i["quantity"]) for i in order["items"]) == [(a.id, 2), (b.id, 3)]
        assert order["subtotal_fen"] == 2 * 5990 + 3 * 1990
        cart = (await client.get("/api/cart", headers=auth(user))).json()
        assert cart == {"items": [], "total_fen": 0}
        assert await stock_of(a.id) == 8 and await stock_of(b.id) == 7

    async def test_named_items_leave_the_cart_alone(self, client):
        user, address = await customer()
        sku = await sku_on_sale()
        await client.put(f"/api/cart/items/{sku.id}", json={"quantity": 2}, headers=auth(user))
        assert (await place(client, user, address, [(sku.id, 1)])).status_code == 201
        assert len((await client.get("/api/cart", headers=auth(user))).json()["items"]) == 1

    async def test_empty_cart_is_422(self, client):
        user, address = await customer()
        response = await client.post("/api/orders", json={"address_id": address.id}, headers=auth(user))
        assert_problem(response, 422, "cart_empty")

    async def test_a_failed_checkout_keeps_the_cart(self, client):
        user, address = await customer()
        sku = await sku_on_sale(stock=5)
        await client.put(f"/api/cart/items/{sku.id}", json={"quantity": 2}, headers=auth(user))
        await set_stock(sku.id, 0)
        response = await client.post("/api/orders", json={"address_id": address.id}, headers=auth(user))
        assert assert_problem(response, 409, "out_of_stock")["sku_ids"] == [sku.id]
        async with session_scope() as session:
            assert len((await session.execute(select(CartItem))).scalars().all()) == 1


class TestIdempotency:
    async def test_same_key_and_body_returns_the_same_order(self, client):
        user, address = await customer()
        sku = await sku_on_sale(stock=10)
        first = await place(client, user, address, [(sku.id, 2)], key="order-abc-1")
        second = await place(client, user, address, [(sku.id, 2)], key="order-abc-1")
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert await count_orders() == 1 and await stock_of(sku.id) == 8

    async def test_same_key_other_body_is_422(self, client):
        user, address = await customer()
        sku = await sku_on_sale(stock=10)
        assert (await place(client, user, address, [(sku.id, 2)], key="k-1")).status_code == 201
        response = await place(client, user, address, [(sku.id, 3)], key="k-1")
        assert_problem(response, 422, "idempotency_key_reused")
        assert await count_orders() == 1 and await stock_of(sku.id) == 8

    async def test_keys_are_per_customer(self, client):
        sku = await sku_on_sale(stock=10)
        (u1, a1), (u2, a2) = await customer(), await customer()
        r1 = await place(client, u1, a1, [(sku.id, 1)], key="same-key")
        r2 = await place(client, u2, a2, [(sku.id, 1)], key="same-key")
        assert r1.status_code == r2.status_code == 201
        assert r1.json()["id"] != r2.json()["id"]

    async def test_a_failed_request_lets_go_of_its_key(self, client):
        user, address = await customer()
        sku = await sku_on_sale(stock=0)
        assert_problem(await place(client, user, address, [(sku.id, 1)], key="retry-me"), 409, "out_of_stock")
        await set_stock(sku.id, 3)
        response = await place(client, user, address, [(sku.id, 1)], key="retry-me")
        assert response.status_code == 201, response.text
        assert await stock_of(sku.id) == 2

    async def test_a_claim_still_running_is_409(self, client):
        from app.orders import idempotency

        user, address = await customer()
        sku = await sku_on_sale(stock=10)
        payload = {
            "address_id": address.id,
            "items": [{"sku_id": sku.id, "quantity": 1}],
            "coupon_code": None,
            "note": "",
        }
        async with session_scope() as session:
            claim = await idempotency.claim(session, user.id, "busy", idempotency.request_hash(payload))
        assert isinstance(claim, idempotency.Claim)
        assert_problem(
            await place(client, user, address, [(sku.id, 1)], key="busy"), 409, "request_in_progress"
        )
        assert await count_orders() == 0

    async def test_a_claim_whose_request_died_is_taken_over_later(self, client, monkeypatch):
        import asyncio

        from app.orders import idempotency

        monkeypatch.setattr(get_settings(), "idempotency_stale_claim_seconds", 0.3)
        user, address = await customer()
        sku = await sku_on_sale(stock=10)
        payload = {
            "address_id": address.id,
            "items": [{"sku_id": sku.id, "quantity": 1}],
            "coupon_code": None,
            "note": "",
        }
        async with session_scope() as session:
            await idempotency.claim(session, user.id, "crashed", idempotency.request_hash(payload))
        await asyncio.sleep(0.5)
        response = await place(client, user, address, [(sku.id, 1)], key="crashed")
        assert response.status_code == 201, response.text
        again = await place(client, user, address, [(sku.id, 1)], key="crashed")
        assert again.json() == response.json() and await count_orders() == 1

    @pytest.mark.parametrize("key", ["", "x" * 256, "has space", "中文".encode()])
    async def test_bad_keys_are_422(self, client, key):
        user, address = await customer()
        sku = await sku_on_sale()
        headers = {**auth(user), "Idempotency-Key": key}
        response = await client.post(
            "/api/orders",
            json={"address_id": address.id, "items": [{"sku_id": sku.id, "quantity": 1}]},
            headers=headers,
        )
        assert response.status_code == 422
        assert await count_orders() == 0

    async def test_history_starts_with_the_placing_and_stores_each_transition(self, client):
        user, address = await customer()
        sku = await sku_on_sale()
        order = (await place(client, user, address, [(sku.id, 1)])).json()
        await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))
        body = (await client.get(f"/api/orders/{order['id']}", headers=auth(user))).json()
        assert [(h["from_status"], h["to_status"], h["actor_id"]) for h in body["history"]] == [
            (None, "pending_payment", user.id),
            ("pending_payment", "cancelled", user.id),
        ]
        assert body["history"][0]["at"] == body["created_at"]
        async with session_scope() as session:
            rows = (
                (await session.execute(select(OrderHistory).where(OrderHistory.order_id == order["id"])))
                .scalars()
                .all()
            )
        assert [(r.from_status, r.to_status, r.actor_role) for r in rows] == [
            ("pending_payment", "cancelled", "customer")
        ]
