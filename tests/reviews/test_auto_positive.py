"""The worker's default 5-star review: lines of orders completed REVIEW_AUTO_POSITIVE_DAYS ago without a
review get one (no text, marked automatic), exactly once, also with two workers at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.config import get_settings
from app.db import session_scope
from app.reviews import tasks
from app.worker import JOBS
from tests.problems import assert_problem
from tests.reviews.factories import aggregates, completed_order, review, reviews_of


async def run_job() -> int:
    async with session_scope() as session:
        return await tasks.auto_positive(session)


def test_the_job_is_scheduled():
    assert "reviews.auto_positive" in {job.name for job in JOBS}


class TestAutoPositive:
    async def test_after_15_days_an_unreviewed_line_gets_5_stars_once(self, client, shop_clock):
        user, order, sku = await completed_order(client)
        shop_clock.advance(timedelta(days=14, hours=23))
        assert await run_job() == 0
        shop_clock.advance(timedelta(hours=2))
        assert await run_job() == 1
        assert await run_job() == 0
        [auto] = await reviews_of(sku.product_id)
        assert (auto.rating, auto.text, auto.is_automatic, auto.order_id) == (5, "", True, order["id"])
        assert await aggregates(sku.product_id) == (5, 1)
        public = (await client.get(f"/api/products/{sku.product_id}/reviews")).json()["items"]
        assert [(r["rating"], r["is_automatic"], r["text"]) for r in public] == [(5, True, "")]
        assert_problem(await review(client, user, order["id"], sku.id), 409, "already_reviewed")

    async def test_a_reviewed_line_is_left_alone(self, client, shop_clock):
        user, order, sku = await completed_order(client)
        await review(client, user, order["id"], sku.id, rating=2)
        shop_clock.advance(timedelta(days=16))
        assert await run_job() == 0
        assert await aggregates(sku.product_id) == (2, 1)

    async def test_the_setting_decides_the_days(self, client, shop_clock, monkeypatch):
        monkeypatch.setattr(get_settings(), "review_auto_positive_days", 3)
        await completed_order(client)
        shop_clock.advance(timedelta(days=3, minutes=1))
        assert await run_job() == 1

    async def test_lines_due_for_more_than_90_days_are_left_alone(self, client, shop_clock):
        await completed_order(client)
        shop_clock.advance(timedelta(days=15 + 91))
        assert await run_job() == 0

    async def test_automatic_reviews_are_not_editable(self, client, shop_clock):
        from tests.users.factories import auth

        user, order, sku = await completed_order(client)
        shop_clock.advance(timedelta(days=16))
        await run_job()
        response = await client.put(
            f"/api/orders/{order['id']}/items/{sku.id}/review", json={"rating": 1}, headers=auth(user)
        )
        assert_problem(response, 409, "review_not_editable")


class TestTwoWorkers:
    async def test_two_workers_at_once_review_each_line_once(self, client, shop_clock):
        lines = [await completed_order(client) for _ in range(6)]
        shop_clock.advance(timedelta(days=16))
        results = await asyncio.gather(run_job(), run_job(), run_job())
        assert sum(results) == 6, results
        for _user, _order, sku in lines:
            assert len(await reviews_of(sku.product_id)) == 1
            assert await aggregates(sku.product_id) == (5, 1)

    @pytest.mark.mysql_only
    async def test_a_worker_and_the_buyer_at_once_make_one_review(self, client, shop_clock):
        user, order, sku = await completed_order(client)
        shop_clock.advance(timedelta(days=16))
        outcomes = await asyncio.gather(
            run_job(), review(client, user, order["id"], sku.id, rating=3), run_job(), return_exceptions=True
        )
        assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
        assert len(await reviews_of(sku.product_id)) == 1
        [only] = await reviews_of(sku.product_id)
        assert await aggregates(sku.product_id) == (only.rating, 1)
