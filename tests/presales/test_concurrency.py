"""Races on MariaDB: real concurrent requests and jobs, each with its own connection."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.db import session_scope
from app.flows import presale_balance
from app.orders.models import OrderHistory
from app.presales import tasks as presales_tasks
from app.presales.models import PresaleOrder
from tests.orders.factories import count_orders, customer, sku_on_sale, stock_of
from tests.payments.factories import events_of
from tests.presales.factories import create_presale, order, pay_stage, remaining

pytestmark = pytest.mark.mysql_only


class TestQuotaRush:
    async def test_300_deposits_at_once_for_a_quota_of_100_make_exactly_100_orders(self, client):
        sku = await sku_on_sale(stock=5)
        presale = await create_presale(sku, quota=100)
        buyers = [await customer() for _ in range(300)]
        responses = await asyncio.gather(*(order(client, user, address, presale) for user, address in buyers))
        codes = Counter((r.status_code, r.json().get("code")) for r in responses)
        assert codes == {(201, None): 100, (409, "presale_sold_out"): 200}, codes
        assert await count_orders() == 100 and await remaining(presale.id) == 0
        async with session_scope() as session:
            shares = (await session.execute(select(func.sum(PresaleOrder.quantity)))).scalar_one()
        assert shares == 100 and await stock_of(sku.id) == 5  # quota, not stock


class TestJobsWithTwoWorkers:
    async def _deposits_paid(self, client, n: int, **overrides):
        presale = await create_presale(await sku_on_sale(stock=100), **overrides)
        orders = []
        for _ in range(n):
            user, address = await customer()
            placed = (await order(client, user, address, presale)).json()
            _, notice = await pay_stage(client, user, placed)
            assert notice.status_code == 200, notice.text
            orders.append(placed)
        return presale, orders

    async def test_each_buyer_is_told_once_that_the_balance_is_due(self, client, shop_clock):
        _, orders = await self._deposits_paid(client, 12)
        shop_clock.advance(timedelta(days=21))

        async def worker() -> int:
            async with session_scope() as session:
                return await presales_tasks.notify_balance_open(session)

        assert sum(await asyncio.gather(worker(), worker(), worker())) == 12
        assert sorted(e["order_id"] for e in await events_of("presale.balance_due")) == sorted(
            o["id"] for o in orders
        )

    @pytest.mark.parametrize("refund", [False, True], ids=["deposit kept", "deposit refunded"])
    async def test_two_workers_cancel_each_unpaid_balance_once(self, client, shop_clock, refund):
        presale, orders = await self._deposits_paid(client, 12, refund_deposit_if_unpaid=refund)
        assert await remaining(presale.id) == 88
        shop_clock.advance(timedelta(days=28))

        async def worker() -> int:
            async with session_scope() as session:
                return await presale_balance.cancel_unpaid_balances(session)

        assert sum(await asyncio.gather(worker(), worker(), worker())) == 12
        assert await remaining(presale.id) == 100
        to = "refunding" if refund else "cancelled"
        async with session_scope() as session:
            moves = (
                await session.execute(
                    select(func.count()).select_from(OrderHistory).where(OrderHistory.to_status == to)
                )
            ).scalar_one()
        assert moves == 12
        from tests.payments.factories import refunds

        assert len(await refunds()) == (12 if refund else 0)
