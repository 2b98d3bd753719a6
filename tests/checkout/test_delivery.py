"""The prepaid delivery order (app.checkout.delivery): paid as placed, total 0, stock taken like any order,
the address copied, at most one order per source, and a refusal leaves nothing behind."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from app.checkout import delivery
from app.checkout.models import DeliveryOrder
from app.db import session_scope
from app.errors import AppError
from app.orders.models import OrderHistory, OrderStatus
from tests.orders.factories import count_orders, customer, sku_on_sale, staff, stock_of
from tests.users.factories import auth


async def _place(user_id: int, sku_id: int, address_id: int, ref: str, *, quantity: int = 2, kind=None):
    async with session_scope() as session:
        order = await delivery.place_delivery_order(
            session,
            user_id=user_id,
            kind=kind or delivery.SUBSCRIPTION_DELIVERY,
            sku_id=sku_id,
            quantity=quantity,
            address_id=address_id,
            source_ref=ref,
        )
        return order.id, order.status, order.total_fen, order.kind, order.paid_at, order.address


class TestPlaceDeliveryOrder:
    async def test_paid_free_and_takes_stock_with_the_address_copied(self):
        sku = await sku_on_sale(stock=10)
        user, address = await customer()
        order_id, status, total, kind, paid_at, snapshot = await _place(user.id, sku.id, address.id, "t:1")
        assert (status, total, kind) == (OrderStatus.paid, 0, "subscription_delivery")
        assert paid_at is not None and snapshot["detail"] == address.detail
        assert await stock_of(sku.id) == 8
        async with session_scope() as session:
            moves = (
                (
                    await session.execute(
                        select(OrderHistory.to_status)
                        .where(OrderHistory.order_id == order_id)
                        .order_by(OrderHistory.id)
                    )
                )
                .scalars()
                .all()
            )
        assert moves == ["paid"]

    async def test_adoption_delivery_is_the_same_kind_of_order(self):
        sku = await sku_on_sale(stock=10)
        user, address = await customer()
        _, status, total, kind, _, _ = await _place(
            user.id, sku.id, address.id, "adoption:1:1", kind=delivery.ADOPTION_DELIVERY
        )
        assert (status, total, kind) == (OrderStatus.paid, 0, "adoption_delivery")

    async def test_out_of_stock_refused_and_nothing_written(self):
        sku = await sku_on_sale(stock=1)
        user, address = await customer()
        with pytest.raises(AppError) as refused:
            await _place(user.id, sku.id, address.id, "t:2")
        assert refused.value.code == "out_of_stock"
        assert await count_orders() == 0 and await stock_of(sku.id) == 1
        async with session_scope() as session:
            assert (await session.execute(select(func.count()).select_from(DeliveryOrder))).scalar_one() == 0

    async def test_someone_elses_address_is_refused(self):
        sku = await sku_on_sale(stock=5)
        user, _ = await customer()
        _, other_address = await customer()
        with pytest.raises(AppError) as refused:
            await _place(user.id, sku.id, other_address.id, "t:3")
        assert refused.value.code == "address_not_found"
        assert await count_orders() == 0

    async def test_the_same_source_twice_places_one_order(self):
        sku = await sku_on_sale(stock=10)
        user, address = await customer()
        await _place(user.id, sku.id, address.id, "t:4")
        with pytest.raises(delivery.DeliveryAlreadyPlaced):
            await _place(user.id, sku.id, address.id, "t:4")
        assert await count_orders() == 1 and await stock_of(sku.id) == 8

    async def test_ships_like_any_paid_order(self, client):
        sku = await sku_on_sale(stock=10)
        user, address = await customer()
        order_id, *_ = await _place(user.id, sku.id, address.id, "t:5")
        response = await client.post(
            f"/api/admin/orders/{order_id}/ship",
            json={"carrier": "顺丰速运", "tracking_no": "SF1234567890"},
            headers=auth(await staff()),
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "shipped"


@pytest.mark.mysql_only
class TestTwoWorkers:
    async def test_two_workers_placing_the_same_delivery_make_one_order(self):
        sku = await sku_on_sale(stock=10)
        user, address = await customer()
        results = await asyncio.gather(
            *(_place(user.id, sku.id, address.id, "race:1") for _ in range(2)), return_exceptions=True
        )
        placed = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(placed) == 1 and [type(r) for r in refused] == [delivery.DeliveryAlreadyPlaced], results
        assert await count_orders() == 1 and await stock_of(sku.id) == 8
