"""Coupons under concurrency: claims never pass total_quantity or per_customer_limit (on SQLite and on
MariaDB, real concurrent requests), and a coupon used by parallel checkouts goes to exactly one order
(MariaDB)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.coupons.factories import claim, claimed_code, claims_of, create_coupon, get_coupon
from tests.orders.factories import count_orders, customer, place, sku_on_sale, stock_of
from tests.users.factories import create_user


class TestClaimRace:
    async def test_200_claims_of_a_batch_of_50_give_exactly_50(self, client):
        coupon = await create_coupon(total_quantity=50)
        buyers = [await create_user() for _ in range(200)]
        responses = await asyncio.gather(*(claim(client, user, coupon) for user in buyers))
        codes = Counter(
            (r.status_code, r.json().get("code") if r.status_code != 201 else None) for r in responses
        )
        assert codes == {(201, None): 50, (409, "coupon_sold_out"): 150}, codes
        assert len(await claims_of(coupon.id)) == 50
        assert (await get_coupon(coupon.id)).claimed_quantity == 50
        assert len({r.json()["code"] for r in responses if r.status_code == 201}) == 50

    async def test_one_customer_clicking_20_times_gets_the_limit_exactly(self, client):
        coupon = await create_coupon(total_quantity=100, per_customer_limit=3)
        user = await create_user()
        responses = await asyncio.gather(*(claim(client, user, coupon) for _ in range(20)))
        codes = Counter(r.status_code for r in responses)
        assert codes == {201: 3, 409: 17}, [r.text for r in responses]
        assert all(r.json()["code"] == "coupon_limit_reached" for r in responses if r.status_code == 409)
        assert (await get_coupon(coupon.id)).claimed_quantity == 3


@pytest.mark.mysql_only
class TestCheckoutRace:
    @pytest.mark.usefixtures("many_unpaid_orders")
    async def test_parallel_checkouts_with_one_coupon_give_it_to_exactly_one_order(self, client):
        coupon = await create_coupon(amount_fen=500)
        sku = await sku_on_sale(stock=100)
        user, address = await customer()
        code = await claimed_code(client, user, coupon)
        responses = await asyncio.gather(
            *(place(client, user, address, [(sku.id, 1)], coupon_code=code) for _ in range(12))
        )
        codes = Counter(r.status_code for r in responses)
        assert codes == {201: 1, 422: 11}, [r.text for r in responses]
        assert all(r.json()["code"] == "coupon_not_applicable" for r in responses if r.status_code == 422)
        [placed] = [r.json() for r in responses if r.status_code == 201]
        assert placed["discount_fen"] == 500
        assert [(c.status, c.order_id) for c in await claims_of(coupon.id)] == [("used", placed["id"])]
        assert await count_orders() == 1 and await stock_of(sku.id) == 99

    async def test_claims_and_checkouts_of_many_customers_at_once(self, client):
        coupon = await create_coupon(total_quantity=20, amount_fen=100)
        sku = await sku_on_sale(stock=1000)
        buyers = [await customer() for _ in range(20)]
        codes = await asyncio.gather(*(claimed_code(client, user, coupon) for user, _ in buyers))
        responses = await asyncio.gather(
            *(
                place(client, user, address, [(sku.id, 1)], coupon_code=code)
                for (user, address), code in zip(buyers, codes, strict=True)
            )
        )
        assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
        assert {r.json()["discount_fen"] for r in responses} == {100}
        assert Counter(c.status for c in await claims_of(coupon.id)) == {"used": 20}
