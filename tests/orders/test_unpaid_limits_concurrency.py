"""Per-customer limits under real concurrency: parallel requests of one customer must not slip past
MAX_UNPAID_ORDERS_PER_CUSTOMER, MAX_UNPAID_UNITS_PER_SKU or MAX_ADDRESSES_PER_CUSTOMER. Each request has its own
connection; the check runs in the reserving transaction under a lock on the customer's row (MariaDB: SELECT ...
FOR UPDATE, on the lean store and on the session; SQLite: the database's write lock, taken first). Written for
MariaDB, where it proves the claim; it runs on SQLite too, whose driver would otherwise read before it locks."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select

from app.checkout import service as checkout_service
from app.config import get_settings
from app.db import session_scope
from app.users.models import Address
from tests.orders.factories import count_orders, customer, place, sku_on_sale, stock_of
from tests.users.factories import auth, create_address, create_user


@pytest.fixture(params=["lean store", "session store"])
def store(request, monkeypatch) -> str:
    """The store of this database (on MariaDB the lean store, on SQLite the ORM store), or the ORM store in
    the request's session with the expired-GI guard's reads too (on MariaDB: that store's locks proven
    there)."""
    if request.param == "session store":
        monkeypatch.setattr(get_settings(), "block_sale_on_expired_gi", True)
        monkeypatch.setattr(checkout_service, "backend", checkout_service.OrmBackend)
    return request.param


def _codes(responses) -> Counter:
    return Counter((r.status_code, r.json().get("code")) for r in responses)


class TestParallelCheckoutsOfOneCustomer:
    async def test_20_at_once_make_exactly_3_orders(self, client, store):
        sku = await sku_on_sale(stock=1000)
        user, address = await customer()

        responses = await asyncio.gather(*(place(client, user, address, [(sku.id, 2)]) for _ in range(20)))

        codes = _codes(responses)
        assert codes == {(201, None): 3, (409, "too_many_unpaid_orders"): 17}, [r.text for r in responses]
        assert (await count_orders(), await stock_of(sku.id)) == (3, 994)

    async def test_20_at_once_with_idempotency_keys_make_exactly_3_orders(self, client, store):
        """Distinct keys, and some requests repeated: each key answers one way, and still only 3 orders."""
        sku = await sku_on_sale(stock=1000)
        user, address = await customer()

        responses = await asyncio.gather(
            *(place(client, user, address, [(sku.id, 1)], key=f"tap-{i % 12}") for i in range(20))
        )

        assert {r.status_code for r in responses} <= {201, 409}, [r.text for r in responses]
        assert {r.json()["code"] for r in responses if r.status_code == 409} <= {
            "too_many_unpaid_orders",
            "request_in_progress",
        }
        placed = {r.json()["id"] for r in responses if r.status_code == 201}
        assert len(placed) == 3
        assert (await count_orders(), await stock_of(sku.id)) == (3, 997)

    async def test_units_of_one_sku_at_once_stop_at_the_cap(self, client, store, monkeypatch):
        monkeypatch.setattr(get_settings(), "max_unpaid_orders_per_customer", 100)
        sku = await sku_on_sale(stock=1000)
        user, address = await customer()

        responses = await asyncio.gather(*(place(client, user, address, [(sku.id, 3)]) for _ in range(20)))

        assert _codes(responses) == {(201, None): 6, (409, "too_many_unpaid_orders"): 14}
        assert (await count_orders(), await stock_of(sku.id)) == (6, 1000 - 18)

    async def test_other_customers_are_not_held_up(self, client):
        sku = await sku_on_sale(stock=1000)
        buyers = [await customer() for _ in range(10)]

        responses = await asyncio.gather(
            *(place(client, user, address, [(sku.id, 1)]) for user, address in buyers for _ in range(4))
        )

        assert _codes(responses) == {(201, None): 30, (409, "too_many_unpaid_orders"): 10}
        assert await stock_of(sku.id) == 970


class TestParallelAddresses:
    async def test_30_at_once_stop_at_the_cap(self, client):
        user = await create_user()
        for _ in range(15):
            await create_address(user, is_default=False)
        body = {
            "recipient": "张三",
            "phone": "13912345678",
            "province": "黑龙江省",
            "city": "哈尔滨市",
            "district": "五常市",
            "detail": "民乐乡 8 号",
        }

        responses = await asyncio.gather(
            *(client.post("/api/users/me/addresses", json=body, headers=auth(user)) for _ in range(30))
        )

        assert _codes(responses) == {(201, None): 5, (409, "too_many_addresses"): 25}
        async with session_scope() as session:
            count = (
                await session.execute(
                    select(func.count()).select_from(Address).where(Address.user_id == user.id)
                )
            ).scalar_one()
        assert count == 20
