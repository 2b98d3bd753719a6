"""Real concurrent requests against MariaDB: each request has its own connection from the engine's pool."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import update

from app.db import session_scope, utcnow
from app.orders import jobs
from app.orders.models import Order
from tests.orders.factories import count_orders, customer, pending_order, place, sku_on_sale, stock_of
from tests.users.factories import auth

pytestmark = pytest.mark.mysql_only


class TestRaceForTheLastBags:
    async def test_48_buyers_10_bags_exactly_10_orders(self, client):
        sku = await sku_on_sale(stock=10)
        buyers = [await customer() for _ in range(48)]
        responses = await asyncio.gather(
            *(place(client, user, address, [(sku.id, 1)]) for user, address in buyers)
        )
        codes = Counter(r.status_code for r in responses)
        assert codes == {201: 10, 409: 38}, codes
        assert all(
            r.json()["code"] == "out_of_stock" and r.json()["sku_ids"] == [sku.id]
            for r in responses
            if r.status_code == 409
        )
        assert await stock_of(sku.id) == 0
        assert await count_orders() == 10


class TestOverlappingMultiLineOrders:
    @pytest.mark.usefixtures("many_unpaid_orders")
    async def test_opposite_line_order_never_deadlocks_a_client(self, client):
        a = await sku_on_sale(stock=10_000)
        b = await sku_on_sale(stock=10_000)
        c = await sku_on_sale(stock=10_000)
        buyers = [await customer() for _ in range(8)]
        rounds = 15
        for _ in range(rounds):
            requests = []
            for i, (user, address) in enumerate(buyers):
                lines = [(a.id, 1), (b.id, 2), (c.id, 3)]
                requests.append(place(client, user, address, lines if i % 2 else list(reversed(lines))))
            responses = await asyncio.gather(*requests)
            assert all(r.status_code == 201 for r in responses), [
                r.text for r in responses if r.status_code != 201
            ]
        placed = rounds * len(buyers)
        assert await count_orders() == placed
        assert (await stock_of(a.id), await stock_of(b.id), await stock_of(c.id)) == (
            10_000 - placed,
            10_000 - 2 * placed,
            10_000 - 3 * placed,
        )


class TestIdempotencyUnderConcurrency:
    async def test_the_same_key_12_times_at_once_makes_one_order(self, client):
        sku = await sku_on_sale(stock=100)
        user, address = await customer()
        responses = await asyncio.gather(
            *(place(client, user, address, [(sku.id, 2)], key="double-click-1") for _ in range(12))
        )
        codes = Counter(r.status_code for r in responses)
        assert set(codes) <= {201, 409}, [r.text for r in responses]
        assert codes[201] >= 1
        assert all(r.json()["code"] == "request_in_progress" for r in responses if r.status_code == 409)
        assert len({r.json()["id"] for r in responses if r.status_code == 201}) == 1
        assert len({r.text for r in responses if r.status_code == 201}) == 1
        assert await count_orders() == 1 and await stock_of(sku.id) == 98
        # Once it is done, every retry gets the same order.
        again = await place(client, user, address, [(sku.id, 2)], key="double-click-1")
        assert again.status_code == 201 and again.json() == next(
            r.json() for r in responses if r.status_code == 201
        )

    async def test_a_reused_key_with_another_body_is_422_even_at_once(self, client):
        sku = await sku_on_sale(stock=100)
        user, address = await customer()
        first, second = await asyncio.gather(
            place(client, user, address, [(sku.id, 1)], key="k"),
            place(client, user, address, [(sku.id, 5)], key="k"),
        )
        assert sorted([first.status_code, second.status_code]) in ([201, 422], [201, 409])
        assert await count_orders() == 1


class TestTimeoutJobWithTwoWorkers:
    @pytest.mark.usefixtures("many_unpaid_orders")
    async def test_two_workers_cancel_each_order_once_and_return_stock_once(self, client):
        sku = await sku_on_sale(stock=100)
        user, address = await customer()
        orders = [await pending_order(client, user, address, sku, qty=2) for _ in range(30)]
        async with session_scope() as session:
            await session.execute(
                update(Order)
                .where(Order.id.in_([o["id"] for o in orders]))
                .values(pay_deadline=utcnow() - timedelta(seconds=1))
            )
        assert await stock_of(sku.id) == 40

        async def worker() -> int:
            async with session_scope() as session:
                return await jobs.cancel_expired(session)

        results = await asyncio.gather(worker(), worker(), worker())
        assert sum(results) == 30
        assert await stock_of(sku.id) == 100

    @pytest.mark.usefixtures("many_unpaid_orders")
    async def test_buyer_cancel_racing_the_job_returns_stock_once(self, client):
        sku = await sku_on_sale(stock=100)
        user, address = await customer()
        orders = [await pending_order(client, user, address, sku, qty=1) for _ in range(20)]
        async with session_scope() as session:
            await session.execute(update(Order).values(pay_deadline=utcnow() - timedelta(seconds=1)))

        async def job() -> int:
            async with session_scope() as session:
                return await jobs.cancel_expired(session)

        cancels = [client.post(f"/api/orders/{o['id']}/cancel", headers=auth(user)) for o in orders]
        responses = await asyncio.gather(job(), *cancels)
        statuses = Counter(r.status_code for r in responses[1:])
        assert set(statuses) <= {200, 409}
        assert responses[0] + statuses[200] == 20
        assert await stock_of(sku.id) == 100
