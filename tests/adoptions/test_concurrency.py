"""Races on MariaDB: real concurrent requests, each with its own connection."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select

from app.adoptions.models import Adoption
from app.db import session_scope
from app.flows import adoption_season
from app.orders.models import Order, OrderKind
from tests.adoptions.factories import adopt, adopted, adoption_row, create_plan, deliver, field, shares_left
from tests.adoptions.test_season import SEASON_OVER
from tests.orders.factories import customer

pytestmark = pytest.mark.mysql_only


class TestShares:
    async def test_400_adoptions_for_100_shares_exactly_100_taken(self, client):
        plan = await create_plan((await field()).plot, shares=100)
        adopters = [await customer() for _ in range(400)]
        responses = await asyncio.gather(*(adopt(client, user, address, plan) for user, address in adopters))
        codes = Counter((r.status_code, r.json().get("code")) for r in responses)
        assert codes == {(201, None): 100, (409, "adoption_sold_out"): 300}, codes
        assert await shares_left(plan.id) == 0
        async with session_scope() as session:
            taken = (await session.execute(select(func.sum(Adoption.shares)))).scalar_one()
            orders = (
                await session.execute(select(func.count()).where(Order.kind == OrderKind.adoption))
            ).scalar_one()
        assert (taken, orders) == (100, 100)


class TestDeliveries:
    async def test_concurrent_draws_never_exceed_the_kg_left(self, client):
        plan = await create_plan((await field()).plot)
        user, address = await customer()
        adoption_id = await adopted(client, user, address, plan)  # 50 kg
        responses = await asyncio.gather(*(deliver(client, user, address, adoption_id, 5) for _ in range(20)))
        codes = Counter((r.status_code, r.json().get("code")) for r in responses)
        assert codes == {(201, None): 10, (409, "adoption_kg_exceeded"): 10}, codes
        assert (await adoption_row(adoption_id)).kg_delivered == 50


class TestSeasonEnd:
    async def test_two_workers_at_once_ship_each_adoption_once(self, client, shop_clock):
        plan = await create_plan((await field()).plot)
        adopters = [await customer() for _ in range(6)]
        for user, address in adopters:
            await adopted(client, user, address, plan)

        async def worker() -> int:
            async with session_scope() as session:
                return await adoption_season.ship_season_end(session)

        shop_clock.set(SEASON_OVER)
        results = await asyncio.gather(worker(), worker())
        assert sum(results) == 6
        async with session_scope() as session:
            shipped = (
                await session.execute(select(func.count()).where(Order.kind == OrderKind.adoption_delivery))
            ).scalar_one()
        assert shipped == 6
