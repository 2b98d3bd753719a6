"""Each parcel of a custom order records the batch it was packed from, as traceability records a shipped line's
(named by staff, or first-expiry-first-out), so the box's trace code tells that batch's story."""

from __future__ import annotations

from datetime import timedelta

from app.kit.time import shop_today
from tests.gifts.factories import create_request, quote, recipient_rows, recipients, upload_proof
from tests.orders.factories import pay, sku_on_sale, staff
from tests.traceability.factories import create_batch, create_codes, get_product
from tests.users.factories import auth, create_user


async def _in_production(client, sku):
    user = await create_user()
    request = await create_request(client, user, sku, quantity=20, recipients=recipients(2, per=10))
    await quote(client, request["id"])
    await upload_proof(client, request["id"])
    order = (await client.post(f"/api/custom-requests/{request['id']}/accept", headers=auth(user))).json()
    await pay(order["id"])
    approved = await client.post(f"/api/custom-requests/{request['id']}/approve-proof", headers=auth(user))
    assert approved.status_code == 200, approved.text
    return request, order


class TestParcelBatches:
    async def test_each_parcel_records_its_batch_and_the_code_tells_its_story(self, client):
        sku = await sku_on_sale(weight_g=2500)
        product = await get_product(sku.product_id)
        older = await create_batch(product=product, best_before_on=shop_today() + timedelta(days=100))
        named = await create_batch(product=product, batch_no="GIFT-2026-01")
        request, order = await _in_production(client, sku)
        merchant = await staff()

        first = await client.post(
            f"/api/admin/orders/{order['id']}/ship",
            json={"carrier": "顺丰速运", "tracking_no": "SF0000000001", "recipient_index": 1},
            headers=auth(merchant),
        )
        assert first.status_code == 200, first.text
        second = await client.post(
            f"/api/admin/orders/{order['id']}/ship",
            json={
                "carrier": "顺丰速运",
                "tracking_no": "SF0000000002",
                "recipient_index": 2,
                "lines": [{"sku_id": sku.id, "batch_id": named.id}],
            },
            headers=auth(merchant),
        )
        assert second.status_code == 200 and second.json()["status"] == "shipped"
        rows = await recipient_rows(request["id"])
        assert [r.batch_id for r in rows] == [older.id, named.id]  # first-expiry-first-out, then as named

        (code,) = await create_codes(named)
        scan = await client.get(f"/api/trace/{code}")
        assert scan.status_code == 200 and "GIFT-2026-01" in scan.text

    async def test_a_batch_of_another_product_is_refused_and_nothing_ships(self, client):
        sku = await sku_on_sale(weight_g=2500)
        foreign = await create_batch()
        request, order = await _in_production(client, sku)
        response = await client.post(
            f"/api/admin/orders/{order['id']}/ship",
            json={
                "carrier": "顺丰速运",
                "tracking_no": "SF0000000001",
                "recipient_index": 1,
                "lines": [{"sku_id": sku.id, "batch_id": foreign.id}],
            },
            headers=auth(await staff()),
        )
        assert response.status_code in (409, 422), response.text
        assert all(r.shipped_at is None for r in await recipient_rows(request["id"]))
