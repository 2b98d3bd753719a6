"""Worker jobs: unpaid orders are cancelled at pay_deadline (stock back), shipped ones complete by themselves."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.config import get_settings
from app.db import session_scope, utcnow
from app.orders.models import IdempotencyKey, Order
from app.redis import get_redis
from app.worker import registered_jobs, run_job
from tests.orders.factories import (
    customer,
    get_order,
    pay,
    pending_order,
    place,
    shipped_order,
    sku_on_sale,
    stock_of,
)
from tests.users.factories import auth


async def _age(order_id: int, **values) -> None:
    async with session_scope() as session:
        await session.execute(update(Order).where(Order.id == order_id).values(**values))


class TestCancelUnpaid:
    async def test_cancels_overdue_orders_and_returns_their_stock(self, client):
        sku = await sku_on_sale(stock=10)
        me, address = await customer()
        overdue = await pending_order(client, me, address, sku, qty=3)
        fresh = await pending_order(client, me, address, sku, qty=2)
        paid = await pending_order(client, me, address, sku, qty=1)
        await pay(paid["id"])
        for order in (overdue, paid):
            await _age(order["id"], pay_deadline=utcnow() - timedelta(seconds=1))
        assert await stock_of(sku.id) == 4

        assert await run_job("orders.cancel_unpaid") == 1
        assert await run_job("orders.cancel_unpaid") == 0
        assert await stock_of(sku.id) == 7
        assert (await get_order(overdue["id"])).status == "cancelled"
        assert (await get_order(fresh["id"])).status == "pending_payment"
        assert (await get_order(paid["id"])).status == "paid"
        body = (await client.get(f"/api/orders/{overdue['id']}", headers=auth(me))).json()
        last = body["history"][-1]
        assert (last["to_status"], last["actor_role"], last["actor_id"]) == ("cancelled", "system", None)

    async def test_a_short_timeout_setting_is_honoured(self, client, monkeypatch):
        import asyncio

        monkeypatch.setattr(get_settings(), "order_pay_timeout_minutes", 0.01)  # 0.6 s
        sku = await sku_on_sale(stock=5)
        me, address = await customer()
        order = await pending_order(client, me, address, sku, qty=5)
        assert await run_job("orders.cancel_unpaid") == 0
        await asyncio.sleep(0.8)
        assert await run_job("orders.cancel_unpaid") == 1
        assert await stock_of(sku.id) == 5
        assert (await get_order(order["id"])).status == "cancelled"

    async def test_a_buyer_cancel_and_the_job_return_stock_once(self, client):
        sku = await sku_on_sale(stock=10)
        me, address = await customer()
        order = await pending_order(client, me, address, sku, qty=4)
        await _age(order["id"], pay_deadline=utcnow() - timedelta(seconds=1))
        assert (await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(me))).status_code == 200
        assert await run_job("orders.cancel_unpaid") == 0
        assert await stock_of(sku.id) == 10


class TestAutoConfirm:
    async def test_completes_orders_shipped_long_enough_ago(self, client):
        sku = await sku_on_sale()
        me, address = await customer()
        old = await shipped_order(client, me, address, sku)
        recent = await shipped_order(client, me, address, sku)
        days = get_settings().auto_confirm_days
        await _age(old["id"], shipped_at=utcnow() - timedelta(days=days, minutes=1))
        await _age(recent["id"], shipped_at=utcnow() - timedelta(days=days - 1))
        assert await run_job("orders.auto_confirm") == 1
        assert (await get_order(old["id"])).status == "completed"
        assert (await get_order(recent["id"])).status == "shipped"


class TestPurgeIdempotencyKeys:
    async def test_keys_are_kept_a_day_then_purged(self, client):
        sku = await sku_on_sale()
        me, address = await customer()
        first = await place(client, me, address, [(sku.id, 1)], key="old-key")
        await place(client, me, address, [(sku.id, 1)], key="new-key")
        assert await run_job("orders.purge_idempotency_keys") == 0
        async with session_scope() as session:
            await session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key == "old-key")
                .values(created_at=utcnow() - timedelta(hours=24, minutes=1))
            )
        assert await run_job("orders.purge_idempotency_keys") == 1
        if (redis := get_redis()) is not None:
            await redis.flushdb()  # a day later the short-lived Redis claim is long gone too
        again = await place(client, me, address, [(sku.id, 1)], key="old-key")
        assert again.status_code == 201 and again.json()["id"] != first.json()["id"]

    def test_jobs_are_registered(self):
        assert {"orders.cancel_unpaid", "orders.auto_confirm", "orders.purge_idempotency_keys"} <= set(
            registered_jobs()
        )
