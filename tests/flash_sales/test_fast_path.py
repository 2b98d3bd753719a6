"""The checkout fast path takes a flash sale's rush (POST /api/flash-sales/{id}/orders) and answers exactly as
the route does: the same statuses and bodies for orders, replays and every refusal, and whatever it is not
sure about (a bad body, a bad token, an id that cannot exist) goes on to the route."""

from __future__ import annotations

from datetime import timedelta

import orjson

from app.db import utcnow
from tests.checkout.test_fast_checkout import VARYING, routes_only  # noqa: F401 - fixture
from tests.flash_sales.factories import create_flash_sale, remaining
from tests.orders.factories import customer, sku_on_sale
from tests.users.factories import auth


def _same_shape(value):
    """As tests/checkout/test_fast_checkout.py compares answers, with the buyers (two per path) masked too."""
    if isinstance(value, dict):
        return {k: "*" if k in VARYING | {"actor_id"} else _same_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_same_shape(v) for v in value]
    return value


async def _buy(c, user, sale_id, body, key=None):
    headers = {**auth(user), "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    return await c.post(f"/api/flash-sales/{sale_id}/orders", content=orjson.dumps(body), headers=headers)


class TestFlashSaleFastPath:
    async def test_answers_like_the_route(self, client, routes_only):  # noqa: F811
        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku, quantity=4, per_customer_limit=1)
        upcoming = await create_flash_sale(sku, starts_at=utcnow() + timedelta(hours=1))
        answers = {}
        for name, c in (("fast", client), ("route", routes_only)):
            first, second = await customer(), await customer()
            (user, address), (other, other_address) = first, second
            ok = {"address_id": address.id, "quantity": 1}
            answers[name] = [
                await _buy(c, user, sale.id, ok, key=f"{name}-1"),
                await _buy(c, user, sale.id, ok, key=f"{name}-1"),  # the saved answer
                await _buy(c, user, sale.id, ok),  # the limit
                await _buy(c, other, sale.id, ok),  # someone else's address
                await _buy(c, other, sale.id, {"address_id": other_address.id, "quantity": 1}),
                await _buy(c, other, upcoming.id, {"address_id": other_address.id, "quantity": 1}),
                await _buy(c, other, 999_999, {"address_id": other_address.id, "quantity": 1}),
                await _buy(c, other, sale.id, {"address_id": other_address.id, "quantity": 0}),
                await _buy(c, other, sale.id, {"address_id": other_address.id, "quantity": 1, "x": 1}),
                await _buy(c, other, 0, {"address_id": other_address.id, "quantity": 1}),
            ]
        fast = [(r.status_code, _same_shape(r.json())) for r in answers["fast"]]
        route = [(r.status_code, _same_shape(r.json())) for r in answers["route"]]
        assert [s for s, _ in fast] == [201, 201, 409, 404, 201, 409, 404, 422, 422, 422]
        assert fast == route
        assert await remaining(sale.id) == 0

    async def test_an_ordinary_flash_order_never_reaches_the_route(self):
        from app.checkout.fast_path import CheckoutFastPath
        from tests.checkout.test_fast_checkout import Spy, _client

        sku = await sku_on_sale(stock=100)
        sale = await create_flash_sale(sku, quantity=2)
        user, address = await customer()
        spy = Spy()
        async with _client(CheckoutFastPath(spy)) as c:
            placed = await _buy(c, user, sale.id, {"address_id": address.id, "quantity": 1}, key="k-1")
            unsure = await _buy(c, user, sale.id, {"address_id": address.id, "quantity": "1"})
        assert placed.status_code == 201 and unsure.status_code == 599
        assert len(spy.bodies) == 1 and await remaining(sale.id) == 1
