"""The customer's orders: reading them and moving them (cancel, confirm receipt, refund request)."""

from __future__ import annotations

import pytest

from tests.orders.factories import (
    customer,
    paid_order,
    pending_order,
    shipped_order,
    sku_on_sale,
    stock_of,
)
from tests.problems import assert_problem
from tests.users.factories import auth


class TestListMyOrders:
    async def test_only_mine_newest_first_filtered_and_paginated(self, client):
        sku = await sku_on_sale(stock=50)
        me, my_address = await customer()
        other, other_address = await customer()
        mine = [await pending_order(client, me, my_address, sku) for _ in range(3)]
        await pending_order(client, other, other_address, sku)
        await client.post(f"/api/orders/{mine[0]['id']}/cancel", headers=auth(me))

        page = (await client.get("/api/orders", headers=auth(me))).json()
        assert page["total"] == 3 and page["page"] == 1 and page["size"] == 20
        assert [o["id"] for o in page["items"]] == [o["id"] for o in reversed(mine)]

        pending = (await client.get("/api/orders?status=pending_payment", headers=auth(me))).json()
        assert [o["id"] for o in pending["items"]] == [mine[2]["id"], mine[1]["id"]]
        cancelled = (await client.get("/api/orders?status=cancelled", headers=auth(me))).json()
        assert [o["id"] for o in cancelled["items"]] == [mine[0]["id"]]

        second = (await client.get("/api/orders?page=2&size=2", headers=auth(me))).json()
        assert [o["id"] for o in second["items"]] == [mine[0]["id"]] and second["total"] == 3

    @pytest.mark.parametrize("query", ["status=unknown", "size=101", "page=0", "size=abc"])
    async def test_bad_query_is_422(self, client, query):
        me, _ = await customer()
        assert_problem(await client.get(f"/api/orders?{query}", headers=auth(me)), 422, "validation_error")

    async def test_anonymous_is_401(self, client):
        assert_problem(await client.get("/api/orders"), 401, "not_authenticated")


class TestAnotherCustomersOrder:
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("GET", "/api/orders/{id}", None),
            ("POST", "/api/orders/{id}/cancel", None),
            ("POST", "/api/orders/{id}/confirm-receipt", None),
            ("POST", "/api/orders/{id}/refund-request", {"reason": "不想要了"}),
            ("POST", "/api/orders/{id}/payments", {"channel": "sandbox"}),
        ],
    )
    async def test_is_404_on_every_route_and_unchanged(self, client, method, path, body):
        sku = await sku_on_sale(stock=5)
        owner, address = await customer()
        order = await pending_order(client, owner, address, sku)
        intruder, _ = await customer()
        response = await client.request(
            method, path.format(id=order["id"]), json=body, headers=auth(intruder)
        )
        assert response.status_code == 404, response.text
        assert response.json()["code"] in ("order_not_found", "not_found")
        still = (await client.get(f"/api/orders/{order['id']}", headers=auth(owner))).json()
        assert still["status"] == "pending_payment" and await stock_of(sku.id) == 4

    async def test_unknown_order_is_404(self, client):
        me, _ = await customer()
        assert_problem(await client.get("/api/orders/987654", headers=auth(me)), 404, "order_not_found")


class TestCancel:
    async def test_cancels_an_unpaid_order_and_returns_its_stock(self, client):
        sku = await sku_on_sale(stock=5)
        me, address = await customer()
        order = await pending_order(client, me, address, sku, qty=2)
        assert await stock_of(sku.id) == 3
        response = await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(me))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "cancelled" and body["cancelled_at"]
        assert [(h["from_status"], h["to_status"], h["actor_role"]) for h in body["history"]][-1] == (
            "pending_payment",
            "cancelled",
            "customer",
        )
        assert await stock_of(sku.id) == 5

    async def test_cancelling_twice_is_409_and_returns_stock_once(self, client):
        sku = await sku_on_sale(stock=5)
        me, address = await customer()
        order = await pending_order(client, me, address, sku, qty=2)
        await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(me))
        again = await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(me))
        assert_problem(again, 409, "invalid_order_state")
        assert await stock_of(sku.id) == 5

    async def test_a_paid_order_cannot_be_cancelled(self, client):
        sku = await sku_on_sale(stock=5)
        me, address = await customer()
        order = await paid_order(client, me, address, sku)
        assert_problem(
            await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(me)),
            409,
            "invalid_order_state",
        )
        assert await stock_of(sku.id) == 4


class TestConfirmReceipt:
    async def test_completes_a_shipped_order(self, client):
        sku = await sku_on_sale()
        me, address = await customer()
        order = await shipped_order(client, me, address, sku)
        response = await client.post(f"/api/orders/{order['id']}/confirm-receipt", headers=auth(me))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "completed" and body["completed_at"]
        assert [h["to_status"] for h in body["history"]] == [
            "pending_payment",
            "paid",
            "shipped",
            "completed",
        ]

    @pytest.mark.parametrize("state", ["pending", "paid"])
    async def test_before_shipping_is_409(self, client, state):
        sku = await sku_on_sale()
        me, address = await customer()
        order = await (pending_order if state == "pending" else paid_order)(client, me, address, sku)
        response = await client.post(f"/api/orders/{order['id']}/confirm-receipt", headers=auth(me))
        assert_problem(response, 409, "invalid_order_state")


class TestRefundRequest:
    async def test_a_paid_order_goes_to_refunding_with_the_reason(self, client):
        sku = await sku_on_sale()
        me, address = await customer()
        order = await paid_order(client, me, address, sku)
        response = await client.post(
            f"/api/orders/{order['id']}/refund-request", json={"reason": "拍错了规格"}, headers=auth(me)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "refunding" and body["refund_reason"] == "拍错了规格"
        assert body["history"][-1]["reason"] == "拍错了规格"

    async def test_a_shipped_order_can_ask_too(self, client):
        sku = await sku_on_sale()
        me, address = await customer()
        order = await shipped_order(client, me, address, sku)
        response = await client.post(
            f"/api/orders/{order['id']}/refund-request", json={"reason": "包装破损"}, headers=auth(me)
        )
        assert response.json()["status"] == "refunding"

    async def test_an_unpaid_order_is_409(self, client):
        sku = await sku_on_sale()
        me, address = await customer()
        order = await pending_order(client, me, address, sku)
        response = await client.post(
            f"/api/orders/{order['id']}/refund-request", json={"reason": "不要了"}, headers=auth(me)
        )
        assert_problem(response, 409, "invalid_order_state")

    @pytest.mark.parametrize(
        "body",
        [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}, {"reason": "ok", "amount_fen": 1}],
    )
    async def test_bad_body_is_422_and_changes_nothing(self, client, body):
        sku = await sku_on_sale()
        me, address = await customer()
        order = await paid_order(client, me, address, sku)
        response = await client.post(f"/api/orders/{order['id']}/refund-request", json=body, headers=auth(me))
        assert_problem(response, 422, "validation_error")
        assert (await client.get(f"/api/orders/{order['id']}", headers=auth(me))).json()["status"] == "paid"
