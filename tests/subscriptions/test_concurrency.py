"""Two workers running the subscriptions job at the same moment on MariaDB: every due delivery is placed
exactly once, and a delivery short of stock waits (told once) instead of being skipped or doubled."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.checkout.models import DeliveryOrder
from app.db import session_scope
from app.events import OutboxEvent
from app.kit.time import SHOP_TZ
from app.subscriptions.models import Subscription
from tests.orders.factories import customer, set_stock, sku_on_sale, stock_of
from tests.subscriptions.factories import pay_by_sandbox, run_job, subscribe

pytestmark = pytest.mark.mysql_only


async def _count(model, *where) -> int:  # type: ignore[no-untyped-def]
    async with session_scope() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def test_two_workers_deliver_each_due_period_once(client, shop_clock):
    shop_clock.set(datetime(2027, 1, 31, 10, 0, tzinfo=SHOP_TZ))
    plenty = await sku_on_sale(stock=1000)
    scarce = await sku_on_sale(stock=6)  # three of the six subscriptions of 2 can be served
    ids = []
    for i in range(12):
        user, address = await customer()
        response = await subscribe(client, user, address, plenty if i % 2 else scarce, quantity=2, periods=3)
        assert response.status_code == 201, response.text
        await pay_by_sandbox(client, user, response.json()["order_id"])
        ids.append(response.json()["id"])
    for _ in range(3):  # the same day, two workers at once, three times over
        await asyncio.gather(run_job(), run_job())
    assert await _count(DeliveryOrder) == 6 + 3
    assert await _count(OutboxEvent, OutboxEvent.type == "subscription.activated") == 12
    assert await stock_of(plenty.id) == 1000 - 12 and await stock_of(scarce.id) == 0
    assert await _count(Subscription, Subscription.status == "waiting_for_stock") == 3
    assert await _count(OutboxEvent, OutboxEvent.type == "subscription.waiting_for_stock") == 3
    await set_stock(scarce.id, 100)
    shop_clock.advance(timedelta(hours=1))
    await asyncio.gather(run_job(), run_job())
    assert await _count(DeliveryOrder) == 12
    assert await _count(Subscription, Subscription.delivered_periods == 1) == 12
    shop_clock.set(datetime(2027, 2, 28, 8, 0, tzinfo=SHOP_TZ))
    await asyncio.gather(run_job(), run_job(), run_job())
    assert await _count(DeliveryOrder) == 24
