"""The cart: live prices and stock, unavailable lines marked, quantities capped."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update

from app.catalog.models import Product, ProductStatus, Sku
from app.config import get_settings
from app.db import session_scope
from tests.catalog.factories import create_product, create_sku
from tests.orders.factories import customer, set_stock, sku_on_sale
from tests.problems import assert_problem
from tests.users.factories import auth

CONTRACT_LINE_FIELDS = {"sku_id", "product_id", "name", "quantity", "unit_price_fen", "subtotal_fen"}


async def put(client, user, sku_id, quantity):
    return await client.put(f"/api/cart/items/{sku_id}", json={"quantity": quantity}, headers=auth(user))


class TestCart:
    async def test_set_read_and_remove(self, client):
        me, _ = await customer()
        product = await create_product(name="五常大米 稻花香2号", skus=[])
        small = await create_sku(product, name="2.5kg", price_fen=3990, stock=20)
        big = await create_sku(product, name="10kg", price_fen=13800, stock=20)
        assert (await put(client, me, small.id, 2)).status_code == 200
        response = await put(client, me, big.id, 1)
        cart = response.json()
        assert CONTRACT_LINE_FIELDS <= cart["items"][0].keys()
        assert [(i["sku_id"], i["quantity"], i["subtotal_fen"]) for i in cart["items"]] == [
            (small.id, 2, 7980),
            (big.id, 1, 13800),
        ]
        assert (
            cart["items"][0]["name"] == "五常大米 稻花香2号 2.5kg"
            and cart["items"][0]["product_id"] == product.id
        )
        assert cart["total_fen"] == 7980 + 13800

        await put(client, me, small.id, 5)  # set, not add
        cart = (await client.get("/api/cart", headers=auth(me))).json()
        assert cart["items"][0]["quantity"] == 5 and len(cart["items"]) == 2

        cart = (await client.delete(f"/api/cart/items/{big.id}", headers=auth(me))).json()
        assert [i["sku_id"] for i in cart["items"]] == [small.id] and cart["total_fen"] == 5 * 3990
        assert_problem(
            await client.delete(f"/api/cart/items/{big.id}", headers=auth(me)), 404, "cart_item_not_found"
        )

    async def test_each_customer_has_their_own_cart(self, client):
        me, _ = await customer()
        other, _ = await customer()
        sku = await sku_on_sale()
        await put(client, me, sku.id, 1)
        assert (await client.get("/api/cart", headers=auth(other))).json() == {"items": [], "total_fen": 0}

    async def test_prices_are_live(self, client):
        me, _ = await customer()
        sku = await sku_on_sale(price_fen=5990)
        await put(client, me, sku.id, 2)
        async with session_scope() as session:
            await session.execute(update(Sku).where(Sku.id == sku.id).values(price_fen=4990))
        cart = (await client.get("/api/cart", headers=auth(me))).json()
        assert cart["items"][0]["unit_price_fen"] == 4990 and cart["total_fen"] == 9980

    async def test_archived_or_switched_off_lines_are_marked_unavailable(self, client):
        me, _ = await customer()
        ok = await sku_on_sale(price_fen=1000)
        archived = await sku_on_sale(price_fen=2000)
        off = await sku_on_sale(price_fen=3000)
        sold_out = await sku_on_sale(price_fen=4000)
        for sku in (ok, archived, off, sold_out):
            await put(client, me, sku.id, 1)
        async with session_scope() as session:
            await session.execute(
                update(Product)
                .where(Product.id == archived.product_id)
                .values(status=ProductStatus.archived.value)
            )
            await session.execute(update(Sku).where(Sku.id == off.id).values(is_active=False))
        await set_stock(sold_out.id, 0)
        cart = (await client.get("/api/cart", headers=auth(me))).json()
        available = {i["sku_id"]: i["available"] for i in cart["items"]}
        assert available == {ok.id: True, archived.id: False, off.id: False, sold_out.id: False}
        assert cart["total_fen"] == 1000
        assert all(i["subtotal_fen"] == 0 for i in cart["items"] if not i["available"])

    async def test_quantity_is_capped_by_stock_and_by_the_per_order_limit(self, client, monkeypatch):
        me, _ = await customer()
        scarce = await sku_on_sale(stock=3)
        plenty = await sku_on_sale(stock=1000)
        monkeypatch.setattr(get_settings(), "order_max_quantity_per_sku", 10)
        assert (await put(client, me, scarce.id, 8)).json()["items"][0]["quantity"] == 3
        cart = (await put(client, me, plenty.id, 50)).json()
        line = next(i for i in cart["items"] if i["sku_id"] == plenty.id)
        assert line["quantity"] == 10 and line["max_quantity"] == 10
        await set_stock(scarce.id, 2)  # stock fell after it went in the cart
        line = next(
            i
            for i in (await client.get("/api/cart", headers=auth(me))).json()["items"]
            if i["sku_id"] == scarce.id
        )
        assert line["quantity"] == 2 and line["available"]

    async def test_not_on_sale_is_404_and_sold_out_is_409(self, client):
        me, _ = await customer()
        draft = await create_sku(await create_product(status=ProductStatus.draft.value, skus=[]))
        sold_out = await sku_on_sale(stock=0)
        assert_problem(await put(client, me, draft.id, 1), 404, "sku_not_found")
        assert_problem(await put(client, me, 999999, 1), 404, "sku_not_found")
        body = assert_problem(await put(client, me, sold_out.id, 1), 409, "out_of_stock")
        assert body["sku_ids"] == [sold_out.id]
        assert (await client.get("/api/cart", headers=auth(me))).json()["items"] == []

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"quantity": 0},
            {"quantity": -1},
            {"quantity": "2"},
            {"quantity": 1.5},
            {"quantity": 10000},
            {"quantity": 1, "price_fen": 1},
        ],
    )
    async def test_bad_quantity_is_422(self, client, body):
        me, _ = await customer()
        sku = await sku_on_sale()
        response = await client.put(f"/api/cart/items/{sku.id}", json=body, headers=auth(me))
        assert_problem(response, 422, "validation_error")
        assert (await client.get("/api/cart", headers=auth(me))).json()["items"] == []

    async def test_concurrent_adds_of_one_sku_make_one_line(self, client):
        me, _ = await customer()
        sku = await sku_on_sale()
        responses = await asyncio.gather(*(put(client, me, sku.id, n) for n in range(1, 6)))
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        assert len((await client.get("/api/cart", headers=auth(me))).json()["items"]) == 1

    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", "/api/cart"), ("PUT", "/api/cart/items/1"), ("DELETE", "/api/cart/items/1")],
    )
    async def test_anonymous_is_401(self, client, method, path):
        response = await client.request(method, path, json={"quantity": 1} if method == "PUT" else None)
        assert_problem(response, 401, "not_authenticated")
