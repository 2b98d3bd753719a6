"""The Redis gate (app.flash_sales.gate): it answers a rush in front of the database, gives back what a
request took when no order came of it, follows cancellations, and is made to agree with the database by
the reconciliation job after a crash. Needs TEST_REDIS_URL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import session_scope, utcnow
from app.flash_sales import gate
from app.flash_sales import service as flash_service
from app.orders import jobs as orders_jobs
from app.redis import breaker
from tests.conftest import HAS_REDIS
from tests.flash_sales.factories import (
    buy,
    create_flash_sale,
    gate_agrees_with_database,
    remaining,
    shift_clock,
)
from tests.orders.factories import count_orders, customer, sku_on_sale
from tests.users.factories import auth

pytestmark = pytest.mark.skipif(not HAS_REDIS, reason="the gate needs Redis: set TEST_REDIS_URL")


async def _reconcile() -> int:
    async with session_scope() as session:
        return await flash_service.reconcile_gates(session)


class TestTheGate:
    async def test_a_new_sale_has_a_gate_with_its_quantity(self):
        sale = await create_flash_sale(await sku_on_sale(stock=100), quantity=7)
        assert await gate.state(sale.id) == (7, {})

    async def test_the_gate_refuses_without_asking_the_database(self, client, monkeypatch):
        sale = await create_flash_sale(await sku_on_sale(stock=100), quantity=1)
        first, second = await customer(), await customer()
        assert (await buy(client, *first, sale)).status_code == 201
        from app.checkout import stores

        async def no_database(*args, **kwargs):
            raise AssertionError("the database was asked")

        monkeypatch.setattr(stores.OrmCheckoutStore, "read_flash_sale", no_database)
        monkeypatch.setattr(stores.LeanCheckoutStore, "read_flash_sale", no_database)
        refused = await buy(client, *second, sale)
        assert refused.status_code == 409 and refused.json()["code"] == "sold_out"
        limit = await buy(client, *first, sale)
        assert limit.status_code == 409 and limit.json()["code"] == "flash_sale_limit_reached"

    async def test_what_a_failed_order_took_is_given_back(self, client):
        sale = await create_flash_sale(await sku_on_sale(stock=100), quantity=3, per_customer_limit=2)
        user, _ = await customer()
        _, someone_elses = await customer()
        refused = await buy(client, user, someone_elses, sale, 2)
        assert refused.status_code == 404
        assert await gate.state(sale.id) == (3, {})
        assert await count_orders() == 0

    async def test_a_cancelled_order_gives_back_to_the_gate(self, client):
        sale = await create_flash_sale(await sku_on_sale(stock=100), quantity=3)
        user, address = await customer()
        order = (await buy(client, user, address, sale)).json()
        assert await gate.state(sale.id) == (2, {user.id: 1})
        assert (await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))).status_code == 200
        assert await gate.state(sale.id) == (3, {})

    async def test_a_timed_out_order_gives_back_to_the_gate(self, client, monkeypatch):
        sale = await create_flash_sale(await sku_on_sale(stock=100), quantity=3)
        user, address = await customer()
        assert (await buy(client, user, address, sale)).status_code == 201
        shift_clock(monkeypatch, timedelta(minutes=6))
        async with session_scope() as session:
            assert await orders_jobs.cancel_expired(session) == 1
        assert await gate.state(sale.id) == (3, {}) and await remaining(sale.id) == 3

    async def test_a_closed_sale_has_no_gate(self, client, monkeypatch):
        sale = await create_flash_sale(await sku_on_sale(stock=100))
        shift_clock(monkeypatch, timedelta(hours=2))
        async with session_scope() as session:
            await flash_service.close_ended(session)
        assert await gate.state(sale.id) is None


class TestReconciliation:
    async def test_a_gate_taken_by_a_request_that_died_before_its_order_is_made_right(self):
        sale = await create_flash_sale(await sku_on_sale(stock=100), quantity=5, per_customer_limit=2)
        user, _ = await customer()
        # The crash: the gate was taken, the process died before the order's transaction committed.
        assert await gate.take(sale.id, user.id, 2, utcnow()) is gate.Gate.TAKEN
        assert await gate.state(sale.id) == (3, {user.id: 2})
        assert await _reconcile() == 1
        assert await gate_agrees_with_database(sale.id) and await gate.state(sale.id) == (5, {})
        assert await _reconcile() == 0

    async def test_a_gate_redis_lost_is_made_again_from_the_database(self, client):
        sale = await create_flash_sale(await sku_on_sale(stock=100), quantity=5)
        user, address = await customer()
        assert (await buy(client, user, address, sale)).status_code == 201
        await gate.remove(sale.id)
        # Without its gate the database decides alone, and still refuses a second unit.
        again = await buy(client, user, address, sale)
        assert again.status_code == 409 and again.json()["code"] == "flash_sale_limit_reached"
        assert await _reconcile() == 1
        assert await gate.state(sale.id) == (4, {user.id: 1})


class TestWithoutRedis:
    async def test_an_open_breaker_leaves_the_database_to_decide(self, client, monkeypatch):
        sale = await create_flash_sale(await sku_on_sale(stock=100), quantity=1)
        monkeypatch.setattr(breaker, "open_until", breaker.clock() + 60)
        first, second = await customer(), await customer()
        assert (await buy(client, *first, sale)).status_code == 201
        refused = await buy(client, *second, sale)
        assert refused.status_code == 409 and refused.json()["code"] == "sold_out"
        monkeypatch.undo()
        assert await _reconcile() == 1 and await gate.state(sale.id) == (0, {first[0].id: 1})


class TestKeyedRefusals:
    """A rush sends Idempotency-Keys: a refusal of a key the gate never let through needs no database, and a
    repeat of a placed request still gets its order."""

    async def test_a_keyed_refusal_does_not_ask_the_database_and_a_repeat_gets_its_order(
        self, client, monkeypatch
    ):
        from app.checkout import service as checkout_service

        sale = await create_flash_sale(await sku_on_sale(stock=100), quantity=1)
        (first, first_address), second = await customer(), await customer()
        placed = await buy(client, first, first_address, sale, key="rush-first")
        assert placed.status_code == 201

        async def no_database(*args, **kwargs):
            raise AssertionError("the database was asked")

        monkeypatch.setattr(checkout_service, "place_order", no_database)
        refused = await buy(client, *second, sale, key="rush-second")
        assert refused.status_code == 409 and refused.json()["code"] == "sold_out"
        limit = await buy(client, first, first_address, sale, key="rush-another")
        assert limit.status_code == 409 and limit.json()["code"] == "flash_sale_limit_reached"
        monkeypatch.undo()
        again = await buy(client, first, first_address, sale, key="rush-first")
        assert again.status_code == 201 and again.json() == placed.json()
        assert await count_orders() == 1 and await gate_agrees_with_database(sale.id)

    async def test_a_repeat_of_an_order_placed_without_the_gate_still_gets_its_order(
        self, client, monkeypatch
    ):
        sale = await create_flash_sale(await sku_on_sale(stock=100), quantity=2)
        user, address = await customer()
        monkeypatch.setattr(breaker, "open_until", breaker.clock() + 60)
        placed = await buy(client, user, address, sale, key="while-redis-was-away")
        assert placed.status_code == 201
        monkeypatch.undo()
        # The job finds a holding the gate had not seen: the gate's list of keys is no longer complete.
        assert await _reconcile() == 1 and await gate.state(sale.id) == (1, {user.id: 1})
        again = await buy(client, user, address, sale, key="while-redis-was-away")
        assert again.status_code == 201 and again.json() == placed.json()
        other = await buy(client, user, address, sale, key="a-new-request")
        assert other.status_code == 409 and other.json()["code"] == "flash_sale_limit_reached"
        assert await count_orders() == 1

    async def test_a_repeat_after_the_gate_was_lost_still_gets_its_order(self, client):
        sale = await create_flash_sale(await sku_on_sale(stock=100), quantity=2)
        user, address = await customer()
        await gate.remove(sale.id)
        placed = await buy(client, user, address, sale, key="gate-lost")
        assert placed.status_code == 201
        assert await _reconcile() == 1
        again = await buy(client, user, address, sale, key="gate-lost")
        assert again.status_code == 201 and again.json() == placed.json()
