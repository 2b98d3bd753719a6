"""The service API the payments domain calls: mark_paid, begin_refund, complete_refund, release_stock."""

from __future__ import annotations

import pytest

from app.db import session_scope, utcnow
from app.orders import moves, payment_moves, service
from app.orders.errors import AmountMismatch, InvalidOrderState, OrderNotFound
from app.orders.payment_moves import PaymentApplied
from app.orders.state import SYSTEM
from tests.orders.factories import (
    customer,
    get_order,
    paid_order,
    pay,
    pending_order,
    sales_of,
    sku_on_sale,
    stock_of,
)
from tests.users.factories import auth


class TestMarkPaid:
    async def test_pays_once_and_counts_sales_once(self, client):
        sku = await sku_on_sale(stock=10)
        me, address = await customer()
        order = await pending_order(client, me, address, sku, qty=2)
        paid_at = utcnow()
        assert await pay(order["id"], paid_at=paid_at) is PaymentApplied.paid
        assert await pay(order["id"], paid_at=paid_at) is PaymentApplied.duplicate
        assert not PaymentApplied.duplicate.changed and PaymentApplied.paid.changed
        body = (await client.get(f"/api/orders/{order['id']}", headers=auth(me))).json()
        assert body["status"] == "paid" and body["paid_at"]
        assert body["history"][-1]["actor_role"] == "system" and body["history"][-1]["actor_id"] is None
        assert await sales_of(sku.product_id) == 2
        assert await stock_of(sku.id) == 8

    async def test_wrong_amount_changes_nothing(self, client):
        sku = await sku_on_sale()
        me, address = await customer()
        order = await pending_order(client, me, address, sku)
        async with session_scope() as session:
            with pytest.raises(AmountMismatch):
                await payment_moves.mark_paid(
                    session, order["id"], amount_fen=order["total_fen"] - 1, paid_at=utcnow()
                )
        assert (await get_order(order["id"])).status == "pending_payment"

    async def test_unknown_order(self):
        async with session_scope() as session:
            with pytest.raises(OrderNotFound):
                await payment_moves.mark_paid(session, 999999, amount_fen=1, paid_at=utcnow())

    async def test_a_payment_after_cancellation_goes_to_refunding_without_taking_stock_again(self, client):
        sku = await sku_on_sale(stock=10)
        me, address = await customer()
        order = await pending_order(client, me, address, sku, qty=4)
        await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(me))
        assert await stock_of(sku.id) == 10
        assert await pay(order["id"]) is PaymentApplied.late
        assert await pay(order["id"]) is PaymentApplied.duplicate
        late = await get_order(order["id"])
        assert late.status == "refunding" and late.refund_from_status == "cancelled"
        assert await stock_of(sku.id) == 10 and await sales_of(sku.product_id) == 0

        async with session_scope() as session:
            assert await payment_moves.complete_refund(session, order["id"], actor=SYSTEM) is True
        async with session_scope() as session:
            assert await payment_moves.complete_refund(session, order["id"], actor=SYSTEM) is False
        assert (await get_order(order["id"])).status == "refunded"
        assert await stock_of(sku.id) == 10  # returned at cancellation, not again

    async def test_a_late_payment_refund_cannot_be_rejected(self, client):
        from tests.orders.factories import staff

        sku = await sku_on_sale()
        me, address = await customer()
        order = await pending_order(client, me, address, sku)
        await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(me))
        await pay(order["id"])
        response = await client.post(
            f"/api/admin/orders/{order['id']}/refund-reject",
            json={"reason": "不退"},
            headers=auth(await staff()),
        )
        assert response.status_code == 409 and response.json()["code"] == "invalid_order_state"


class TestRefundApi:
    async def test_begin_refund_only_from_paid_or_shipped(self, client):
        sku = await sku_on_sale()
        me, address = await customer()
        pending = await pending_order(client, me, address, sku)
        async with session_scope() as session:
            with pytest.raises(InvalidOrderState):
                await service.begin_refund(session, pending["id"], actor=SYSTEM, reason="x")
        paid = await paid_order(client, me, address, sku)
        async with session_scope() as session:
            order = await service.begin_refund(
                session, paid["id"], actor=SYSTEM, reason="gateway says chargeback"
            )
            assert order.status == "refunding"

    async def test_complete_refund_from_a_wrong_state_is_invalid(self, client):
        sku = await sku_on_sale()
        me, address = await customer()
        paid = await paid_order(client, me, address, sku)
        async with session_scope() as session:
            with pytest.raises(InvalidOrderState):
                await payment_moves.complete_refund(session, paid["id"])

    async def test_release_stock_is_once_per_order(self, client):
        sku = await sku_on_sale(stock=10)
        me, address = await customer()
        order = await pending_order(client, me, address, sku, qty=3)
        async with session_scope() as session:
            o = await get_order(order["id"])
            assert await moves.release_stock(session, o) is True
            assert await moves.release_stock(session, o) is False
        assert await stock_of(sku.id) == 10
