"""Staff: find orders, ship them, decide refund requests, export a date range."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from app.db import session_scope
from app.kit.time import SHOP_TZ, shop_today
from app.orders.models import Order
from app.users.models import Role
from tests.orders.factories import (
    customer,
    paid_order,
    pending_order,
    sales_of,
    shipped_order,
    sku_on_sale,
    staff,
    stock_of,
)
from tests.problems import assert_problem
from tests.traceability import factories as trace_factories
from tests.users.factories import auth

STAFF_ROUTES = [
    ("GET", "/api/admin/orders", None),
    ("GET", "/api/admin/orders/export.csv", None),
    ("GET", "/api/admin/orders/{id}", None),
    ("POST", "/api/admin/orders/{id}/ship", {"carrier": "顺丰速运", "tracking_no": "SF1234567890"}),
    ("POST", "/api/admin/orders/{id}/refund", None),
    ("POST", "/api/admin/orders/{id}/refund-reject", {"reason": "已超过售后期"}),
]


async def _ask_refund(client, user, order, reason="不想要了"):
    response = await client.post(
        f"/api/orders/{order['id']}/refund-request", json={"reason": reason}, headers=auth(user)
    )
    assert response.status_code == 200, response.text
    return response.json()


class TestStaffOnly:
    @pytest.mark.parametrize(("method", "path", "body"), STAFF_ROUTES)
    async def test_customer_is_403_and_anonymous_401(self, client, method, path, body):
        sku = await sku_on_sale()
        me, address = await customer()
        order = await paid_order(client, me, address, sku)
        url = path.format(id=order["id"])
        assert_problem(await client.request(method, url, json=body, headers=auth(me)), 403, "forbidden")
        assert_problem(await client.request(method, url, json=body), 401, "not_authenticated")
        assert (await client.get(f"/api/orders/{order['id']}", headers=auth(me))).json()["status"] == "paid"

    @pytest.mark.parametrize(("method", "path", "body"), STAFF_ROUTES[2:])
    async def test_unknown_order_is_404(self, client, method, path, body):
        response = await client.request(
            method, path.format(id=424242), json=body, headers=auth(await staff())
        )
        assert_problem(response, 404, "order_not_found")


class TestListOrders:
    async def test_filters_by_status_date_and_phone(self, client):
        sku = await sku_on_sale(stock=50)
        alice, alice_address = await customer(phone="13700000001")
        bob, bob_address = await customer(phone="13700000002")
        a1 = await pending_order(client, alice, alice_address, sku)
        a2 = await paid_order(client, alice, alice_address, sku)
        b1 = await pending_order(client, bob, bob_address, sku)
        # a1 was placed three days ago (Beijing time).
        three_days_ago = datetime.now(SHOP_TZ) - timedelta(days=3)
        async with session_scope() as session:
            await session.execute(update(Order).where(Order.id == a1["id"]).values(created_at=three_days_ago))
        headers = auth(await staff(Role.admin))

        async def ids(query: str) -> list[int]:
            response = await client.get(f"/api/admin/orders?{query}", headers=headers)
            assert response.status_code == 200, response.text
            return [o["id"] for o in response.json()["items"]]

        assert await ids("") == [b1["id"], a2["id"], a1["id"]]
        assert await ids("status=paid") == [a2["id"]]
        today = shop_today()
        assert await ids(f"date_from={today}") == [b1["id"], a2["id"]]
        assert await ids(f"date_to={today - timedelta(days=1)}") == [a1["id"]]
        assert await ids(f"date_from={three_days_ago.date()}&date_to={three_days_ago.date()}") == [a1["id"]]
        assert await ids("phone=13700000002") == [b1["id"]]  # the recipient's phone
        assert await ids(f"phone={alice.phone}") == [a2["id"], a1["id"]]  # the buyer's account phone
        item = (await client.get(f"/api/admin/orders?phone={bob.phone}", headers=headers)).json()["items"][0]
        assert item["buyer_phone"] == bob.phone and item["user_id"] == bob.id

    @pytest.mark.parametrize(
        "query", ["status=nope", "date_from=2026-13-01", "date_to=yesterday", "size=500"]
    )
    async def test_bad_filters_are_422(self, client, query):
        response = await client.get(f"/api/admin/orders?{query}", headers=auth(await staff()))
        assert_problem(response, 422, "validation_error")


class TestShip:
    async def test_ships_a_paid_order_with_carrier_and_tracking_number(self, client):
        sku = await sku_on_sale()
        me, address = await customer()
        order = await paid_order(client, me, address, sku)
        clerk = await staff()
        batch = await trace_factories.create_batch(product=await trace_factories.get_product(sku.product_id))
        response = await client.post(
            f"/api/admin/orders/{order['id']}/ship",
            json={
                "carrier": "京东物流",
                "tracking_no": "JD0012345678",
                "lines": [{"sku_id": sku.id, "batch_id": batch.id}],
            },
            headers=auth(clerk),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "shipped" and body["shipped_at"]
        assert body["shipment"] == {"carrier": "京东物流", "tracking_no": "JD0012345678"}
        assert body["history"][-1]["actor_id"] == clerk.id and body["history"][-1]["actor_role"] == "merchant"
        mine = (await client.get(f"/api/orders/{order['id']}", headers=auth(me))).json()
        assert mine["shipment"] == {"carrier": "京东物流", "tracking_no": "JD0012345678"}

    @pytest.mark.parametrize("state", ["pending", "shipped"])
    async def test_only_a_paid_order_ships(self, client, state):
        sku = await sku_on_sale()
        me, address = await customer()
        order = await (pending_order if state == "pending" else shipped_order)(client, me, address, sku)
        response = await client.post(
            f"/api/admin/orders/{order['id']}/ship",
            json={"carrier": "中通快递", "tracking_no": "ZT99999999"},
            headers=auth(await staff()),
        )
        assert_problem(response, 409, "invalid_order_state")

    @pytest.mark.parametrize(
        "body",
        [
            {"carrier": "火星快递", "tracking_no": "SF1234567890"},
            {"carrier": "顺丰速运", "tracking_no": "12"},
            {"carrier": "顺丰速运", "tracking_no": "SF 1234 5678"},
            {"carrier": "顺丰速运"},
            {"carrier": "顺丰速运", "tracking_no": "SF1234567890", "lines": [{"batch_id": 1}]},
            {
                "carrier": "顺丰速运",
                "tracking_no": "SF1234567890",
                "lines": [{"sku_id": 1, "order_item_id": 1, "batch_id": 1}],
            },
            {"carrier": "顺丰速运", "tracking_no": "SF1234567890", "shipped_at": "2026-01-01T00:00:00Z"},
        ],
    )
    async def test_bad_body_is_422_and_changes_nothing(self, client, body):
        sku = await sku_on_sale()
        me, address = await customer()
        order = await paid_order(client, me, address, sku)
        response = await client.post(
            f"/api/admin/orders/{order['id']}/ship", json=body, headers=auth(await staff())
        )
        assert_problem(response, 422, "validation_error")
        assert (await client.get(f"/api/orders/{order['id']}", headers=auth(me))).json()["status"] == "paid"


class TestRefundDecisions:
    async def test_approving_an_unshipped_refund_returns_the_stock(self, client):
        sku = await sku_on_sale(stock=10)
        me, address = await customer()
        order = await paid_order(client, me, address, sku, qty=3)
        assert await stock_of(sku.id) == 7 and await sales_of(sku.product_id) == 3
        await _ask_refund(client, me, order)
        response = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=auth(await staff()))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "refunded" and body["refunded_at"]
        assert await stock_of(sku.id) == 10 and await sales_of(sku.product_id) == 0
        again = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=auth(await staff()))
        assert_problem(again, 409, "invalid_order_state")
        assert await stock_of(sku.id) == 10

    async def test_approving_a_shipped_refund_keeps_the_stock_out(self, client):
        sku = await sku_on_sale(stock=10)
        me, address = await customer()
        order = await shipped_order(client, me, address, sku, qty=2)
        await _ask_refund(client, me, order, "收到的米有虫")
        response = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=auth(await staff()))
        assert response.json()["status"] == "refunded"
        assert await stock_of(sku.id) == 8

    @pytest.mark.parametrize("state", ["paid", "shipped"])
    async def test_rejecting_puts_the_order_back_with_the_reason(self, client, state):
        sku = await sku_on_sale(stock=10)
        me, address = await customer()
        order = await (paid_order if state == "paid" else shipped_order)(client, me, address, sku)
        await _ask_refund(client, me, order)
        response = await client.post(
            f"/api/admin/orders/{order['id']}/refund-reject",
            json={"reason": "商品已签收超过7天"},
            headers=auth(await staff()),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == state
        assert (
            body["history"][-1]["from_status"] == "refunding"
            and "商品已签收超过7天" in body["history"][-1]["reason"]
        )
        assert await stock_of(sku.id) == 9

    async def test_no_request_no_decision(self, client):
        sku = await sku_on_sale()
        me, address = await customer()
        order = await paid_order(client, me, address, sku)
        headers = auth(await staff())
        assert_problem(
            await client.post(f"/api/admin/orders/{order['id']}/refund", headers=headers),
            409,
            "invalid_order_state",
        )
        response = await client.post(
            f"/api/admin/orders/{order['id']}/refund-reject", json={"reason": "无"}, headers=headers
        )
        assert_problem(response, 409, "invalid_order_state")
        assert await stock_of(sku.id) == 99


class TestExport:
    async def test_csv_of_a_date_range(self, client):
        sku = await sku_on_sale(price_fen=5990)
        me, address = await customer(recipient="=HYPERLINK(1)")
        order = await paid_order(client, me, address, sku, qty=2)
        await pending_order(client, me, address, sku)
        today = shop_today()
        response = await client.get(
            f"/api/admin/orders/export.csv?date_from={today}&date_to={today}", headers=auth(await staff())
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert len(rows) == 2
        first = rows[0]
        assert first["order_no"] == order["order_no"] and first["status"] == "paid"
        assert first["total_yuan"] == "119.80" and first["buyer_phone"] == me.phone
        assert first["recipient"] == "'=HYPERLINK(1)"  # not a formula in a spreadsheet
        assert "x2" in first["items"]

        yesterday = today - timedelta(days=1)
        empty = await client.get(
            f"/api/admin/orders/export.csv?date_to={yesterday}", headers=auth(await staff())
        )
        assert len(list(csv.DictReader(io.StringIO(empty.content.decode("utf-8-sig"))))) == 0
