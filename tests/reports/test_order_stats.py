"""The dashboard's orders per day and status are maintained by the writes (app.orders.stats): after orders
in every state, by every path (checkout, buyer, staff, payment, worker, bulk seed), the maintained figures
equal a recount from scratch, before and after the worker folds them; the repair command puts wrong
figures right."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, insert, select, update

from app.config import PROJECT_ROOT
from app.db import session_scope, utcnow
from app.orders import stats
from app.orders.models import Order, OrderDayStat, OrderStatDelta, OrderStatus
from app.reports.repository import SOLD
from app.seed_scale import seed_scale
from app.worker import run_job
from tests.conftest import IS_MYSQL
from tests.orders.factories import (
    customer,
    paid_order,
    pay,
    pending_order,
    shipped_order,
    sku_on_sale,
    staff,
)
from tests.presales.factories import create_presale, pay_stage
from tests.presales.factories import order as presale_order
from tests.storefront.pages import log_in
from tests.users.factories import auth


async def maintained_and_recounted() -> tuple[dict, dict]:
    async with session_scope() as session:
        return await stats.current(session), await stats.recount(session)


async def statuses_counted() -> dict[str, int]:
    async with session_scope() as session:
        rows = await session.execute(select(Order.status, func.count()).group_by(Order.status))
        return {status: n for status, n in rows}


async def orders_in_every_state(client) -> None:
    user, address = await customer()
    sku = await sku_on_sale(stock=1000)
    shop = auth(await staff())
    me = auth(user)

    await pending_order(client, user, address, sku)
    await paid_order(client, user, address, sku, qty=2)
    await shipped_order(client, user, address, sku)
    done = await shipped_order(client, user, address, sku)
    assert (await client.post(f"/api/orders/{done['id']}/confirm-receipt", headers=me)).status_code == 200
    by_buyer = await pending_order(client, user, address, sku)
    assert (await client.post(f"/api/orders/{by_buyer['id']}/cancel", headers=me)).status_code == 200
    assert await pay(by_buyer["id"]) == "late"  # paid after the cancellation: cancelled -> refunding
    timed_out = await pending_order(client, user, address, sku, qty=3)
    async with session_scope() as session:
        await session.execute(
            update(Order)
            .where(Order.id == timed_out["id"])
            .values(pay_deadline=utcnow() - timedelta(seconds=1))
        )
    assert await run_job("orders.cancel_unpaid") >= 1
    for wanted in ("refunding", "refunded", "rejected"):
        order = await paid_order(client, user, address, sku)
        asked = await client.post(
            f"/api/orders/{order['id']}/refund-request", json={"reason": "不想要了"}, headers=me
        )
        assert asked.status_code == 200, asked.text
        if wanted == "refunded":
            response = await client.post(f"/api/admin/orders/{order['id']}/refund", headers=shop)
            assert response.json()["status"] == "refunded"
        elif wanted == "rejected":
            response = await client.post(
                f"/api/admin/orders/{order['id']}/refund-reject", json={"reason": "已签收"}, headers=shop
            )
            assert response.json()["status"] == "paid"
    # A pre-sale's deposit paid: deposit_paid, waiting for its balance.
    presale = await create_presale(sku, quota=5)
    placed = await presale_order(client, user, address, presale)
    assert placed.status_code == 201, placed.text
    _, paid = await pay_stage(client, user, placed.json())
    assert paid.status_code == 200, paid.text


class TestMaintainedFigures:
    async def test_every_state_by_every_path_equals_a_recount(self, client):
        await seed_scale(products=5, orders=60, codes=0, seed=18)  # bulk: folded at its end
        await orders_in_every_state(client)
        counted = await statuses_counted()
        assert set(counted) == {s.value for s in OrderStatus}  # every state is there

        maintained, recounted = await maintained_and_recounted()
        assert maintained == recounted
        async with session_scope() as session:
            assert {k: v for k, v in (await stats.by_status(session)).items() if v} == counted

        assert await run_job("orders.fold_stats") > 0
        maintained, recounted = await maintained_and_recounted()
        assert maintained == recounted
        async with session_scope() as session:
            assert (await session.execute(select(func.count()).select_from(OrderStatDelta))).scalar_one() == 0

    async def test_a_failed_checkout_counts_nothing(self, client):
        user, address = await customer()
        sku = await sku_on_sale(stock=1)
        response = await client.post(
            "/api/orders",
            json={"address_id": address.id, "items": [{"sku_id": sku.id, "quantity": 2}]},
            headers=auth(user),
        )
        assert response.status_code == 409
        async with session_scope() as session:
            assert await stats.current(session) == {}

    async def test_a_checkout_writes_no_figure_row_and_its_order_counts_until_folded(self, client):
        user, address = await customer()
        sku = await sku_on_sale(stock=10)
        order = await pending_order(client, user, address, sku, qty=2)
        today = stats.day_of(utcnow())
        async with session_scope() as session:
            assert (await session.execute(select(func.count()).select_from(OrderStatDelta))).scalar_one() == 0
            assert await stats.current(session) == {(today, "pending_payment"): (1, order["total_fen"])}
        assert await run_job("orders.fold_stats") == 1
        async with session_scope() as session:
            assert await stats.current(session) == {(today, "pending_payment"): (1, order["total_fen"])}
            uncounted = select(func.count()).select_from(Order).where(Order.stats_counted.is_(False))
            assert (await session.execute(uncounted)).scalar_one() == 0
            created, updated = (await session.execute(select(Order.created_at, Order.updated_at))).one()
        assert updated == created  # counting is not a change of the order
        assert await run_job("orders.fold_stats") == 0

    async def test_the_dashboard_shows_the_maintained_figures(self, client):
        await orders_in_every_state(client)
        merchant = await staff()
        await log_in(client, merchant)
        maintained, _ = await maintained_and_recounted()
        today = stats.day_of(utcnow())
        placed_today = sum(n for (day, _s), (n, _t) in maintained.items() if day == today)
        sold_today = sum(t for (day, s), (_n, t) in maintained.items() if day == today and s in SOLD)
        page = await client.get("/admin/")
        assert page.status_code == 200
        assert f"<strong>{placed_today}</strong>" in page.text
        assert f"¥{sold_today // 100}.{sold_today % 100:02d}" in page.text


class TestRepair:
    async def test_wrong_figures_are_recounted_and_corrected_once(self, client):
        await seed_scale(products=5, orders=50, codes=0, seed=3)
        async with session_scope() as session:
            await stats.fold(session)
        async with session_scope() as session:  # someone edits the figures (or the orders) by hand
            day = (await session.execute(select(OrderDayStat.day).limit(1))).scalar_one()
            await session.execute(delete(OrderDayStat).where(OrderDayStat.day == day))
            await session.execute(
                insert(OrderStatDelta.__table__),
                [{"day": day, "status": "paid", "orders": 7, "total_fen": 1}],
            )
        maintained, recounted = await maintained_and_recounted()
        assert maintained != recounted
        async with session_scope() as session:
            assert await stats.repair(session) > 0
        maintained, recounted = await maintained_and_recounted()
        assert maintained == recounted
        async with session_scope() as session:
            assert await stats.repair(session) == 0

    async def test_the_command(self, client):
        await seed_scale(products=3, orders=10, codes=0, seed=4)
        async with session_scope() as session:
            await session.execute(delete(OrderDayStat))
        env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
        command = [sys.executable, "-m", "app.cli", "recount-order-stats"]
        result = await asyncio.to_thread(
            subprocess.run, command, env=env, cwd=PROJECT_ROOT, capture_output=True
        )
        assert result.returncode == 0, result.stderr.decode()
        assert "figures corrected" in result.stdout.decode()
        maintained, recounted = await maintained_and_recounted()
        assert maintained == recounted


@pytest.mark.mysql_only
class TestConcurrentWrites:
    async def test_checkouts_cancels_and_folds_at_once_lose_and_double_nothing(
        self, client, many_unpaid_orders
    ):
        assert IS_MYSQL
        user, address = await customer()
        sku = await sku_on_sale(stock=10_000)
        me = auth(user)

        async def buy_and_cancel(i: int) -> None:
            response = await client.post(
                "/api/orders",
                json={"address_id": address.id, "items": [{"sku_id": sku.id, "quantity": 1}]},
                headers=me,
            )
            assert response.status_code == 201, response.text
            if i % 2:
                await client.post(f"/api/orders/{response.json()['id']}/cancel", headers=me)

        async def fold_often() -> None:
            for _ in range(10):
                await run_job("orders.fold_stats")
                await asyncio.sleep(0)

        await asyncio.gather(*(buy_and_cancel(i) for i in range(40)), fold_often(), fold_often())
        maintained, recounted = await maintained_and_recounted()
        assert maintained == recounted
        assert sum(n for (_d, s), (n, _t) in maintained.items() if s == "cancelled") == 20
