"""Races on MariaDB, real concurrent requests each on its own connection: a quote accepted many times at once
places one order; parcels of one order shipped at once each go exactly once, and the order becomes shipped
exactly when the last has gone."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.gifts.factories import create_request, quote, recipients, request_row, upload_proof
from tests.orders.factories import count_orders, get_order, pay, sku_on_sale, staff
from tests.users.factories import auth, create_user

pytestmark = pytest.mark.mysql_only


async def _accept(client, user, request_id):
    return await client.post(f"/api/custom-requests/{request_id}/accept", headers=auth(user))


class TestDoubleAccept:
    async def test_twenty_acceptances_at_once_place_one_order(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku)
        assert (await quote(client, request["id"])).status_code == 200
        responses = await asyncio.gather(*(_accept(client, user, request["id"]) for _ in range(20)))
        codes = Counter((r.status_code, r.json().get("code")) for r in responses)
        assert codes[(201, None)] == 1, codes
        assert set(codes) <= {(201, None), (409, "already_accepted"), (409, "request_in_progress")}, codes
        assert await count_orders() == 1
        order_id = next(r.json()["id"] for r in responses if r.status_code == 201)
        assert (await request_row(request["id"])).order_id == order_id


class TestParcelsAtOnce:
    async def test_every_parcel_once_and_the_order_shipped_with_the_last(self, client):
        user, sku = await create_user(), await sku_on_sale()
        request = await create_request(client, user, sku, quantity=20, recipients=recipients(10, per=2))
        await quote(client, request["id"])
        await upload_proof(client, request["id"])
        order = (await _accept(client, user, request["id"])).json()
        await pay(order["id"])
        approved = await client.post(
            f"/api/custom-requests/{request['id']}/approve-proof", headers=auth(user)
        )
        assert approved.status_code == 200, approved.text
        merchant = await staff()

        async def ship(index: int, attempt: int):
            return await client.post(
                f"/api/admin/orders/{order['id']}/ship",
                json={
                    "carrier": "顺丰速运",
                    "tracking_no": f"SF{index:04d}{attempt:04d}",
                    "recipient_index": index,
                },
                headers=auth(merchant),
            )

        responses = await asyncio.gather(*(ship(i, a) for i in range(1, 11) for a in range(3)))
        codes = Counter((r.status_code, r.json().get("code")) for r in responses)
        assert codes == {(200, None): 10, (409, "parcel_already_shipped"): 20}, codes
        assert (await request_row(request["id"])).parcels_shipped == 10
        assert (await get_order(order["id"])).status == "shipped"
