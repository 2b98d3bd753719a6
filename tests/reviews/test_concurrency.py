"""The product's aggregates stay exact when many buyers review at once while staff hide and show reviews
(real concurrent requests; on MariaDB with row locks, on SQLite serialised)."""

from __future__ import annotations

import asyncio

from tests.orders.factories import sku_on_sale, staff
from tests.reviews.factories import aggregates, completed_order, review, reviews_of
from tests.users.factories import auth


class TestAggregatesUnderConcurrency:
    async def test_concurrent_reviews_hides_and_unhides_add_up(self, client):
        sku = await sku_on_sale(stock=1000)
        buyers = [await completed_order(client, sku=sku) for _ in range(12)]
        first = buyers[:4]
        ids = []
        for user, order, _ in first:
            ids.append((await review(client, user, order["id"], sku.id, rating=1)).json()["id"])
        headers = auth(await staff())
        ratings = [1 + i % 5 for i in range(len(buyers) - 4)]
        calls = [
            review(client, user, order["id"], sku.id, rating=r)
            for (user, order, _), r in zip(buyers[4:], ratings, strict=True)
        ]
        calls += [
            client.post(f"/api/admin/reviews/{i}/hide", json={"reason": "测试"}, headers=headers) for i in ids
        ]
        calls += [
            client.post(f"/api/admin/reviews/{i}/hide", json={"reason": "再次"}, headers=headers) for i in ids
        ]
        calls += [client.post(f"/api/admin/reviews/{ids[0]}/unhide", headers=headers)]
        responses = await asyncio.gather(*calls)
        assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
        visible = [r for r in await reviews_of(sku.product_id) if r.status == "visible"]
        assert await aggregates(sku.product_id) == (sum(r.rating for r in visible), len(visible))
        detail = (await client.get(f"/api/products/{sku.product_id}")).json()
        assert detail["rating_count"] == len(visible)
        expected = round(sum(r.rating for r in visible) / len(visible) + 1e-9, 1)
        assert abs(detail["rating_avg"] - expected) < 0.051

    async def test_edits_racing_hides_leave_the_aggregates_exact(self, client):
        sku = await sku_on_sale(stock=1000)
        headers = auth(await staff())
        lines = [await completed_order(client, sku=sku) for _ in range(6)]
        ids = [(await review(client, u, o["id"], sku.id, rating=5)).json()["id"] for u, o, _ in lines]
        calls = []
        for (user, order, _), review_id in zip(lines, ids, strict=True):
            calls.append(
                client.put(
                    f"/api/orders/{order['id']}/items/{sku.id}/review", json={"rating": 1}, headers=auth(user)
                )
            )
            calls.append(
                client.post(f"/api/admin/reviews/{review_id}/hide", json={"reason": "竞态"}, headers=headers)
            )
        responses = await asyncio.gather(*calls)
        assert {r.status_code for r in responses} <= {200, 409}, [r.text for r in responses]
        assert all(r.json()["code"] == "review_not_editable" for r in responses if r.status_code == 409)
        visible = [r for r in await reviews_of(sku.product_id) if r.status == "visible"]
        assert visible == [] and await aggregates(sku.product_id) == (0, 0)
