from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.db import session_scope
from app.orders.models import OrderKind, OrderStatus
from app.traceability.models import BatchAllocation
from tests.adoptions.factories import (
    adopt,
    adopted,
    adoption_row,
    create_plan,
    deliver,
    field,
    shares_left,
)
from tests.orders.factories import customer, pay, staff, stock_of
from tests.traceability.factories import create_certificate, create_plot, create_producer
from tests.users.factories import auth

PLAN = {
    "name": "五常民乐乡一亩田 2026",
    "season": "2026",
    "shares": 100,
    "share_price_fen": 198_000,
    "yield_kg_per_share": 50,
}


class TestCreatePlan:
    async def test_staff_offer_a_plot_season_in_shares(self, client):
        farm = await field()
        response = await client.post(
            "/api/admin/adoption-plans", json={**PLAN, "plot_id": farm.plot.id}, headers=auth(await staff())
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["shares_left"] == 100 and body["sku_id"] == farm.sku.id  # the lightest bag
        assert body["season_ends_at"] == "2027-06-30T16:00:00Z"
        listed = await client.get("/api/admin/adoption-plans", headers=auth(await staff()))
        assert [p["id"] for p in listed.json()["items"]] == [body["id"]]

    async def test_anonymous_401_customer_403(self, client):
        farm = await field()
        body = {**PLAN, "plot_id": farm.plot.id}
        assert (await client.post("/api/admin/adoption-plans", json=body)).status_code == 401
        user, _ = await customer()
        refused = await client.post("/api/admin/adoption-plans", json=body, headers=auth(user))
        assert refused.status_code == 403

    async def test_unknown_plot_404_and_a_plot_with_nothing_to_ship_409(self, client):
        headers = auth(await staff())
        missing = await client.post(
            "/api/admin/adoption-plans", json={**PLAN, "plot_id": 999_999}, headers=headers
        )
        assert (missing.status_code, missing.json()["code"]) == (404, "plot_not_found")
        bare = await create_plot(await create_producer())
        empty = await client.post(
            "/api/admin/adoption-plans", json={**PLAN, "plot_id": bare.id}, headers=headers
        )
        assert (empty.status_code, empty.json()["code"]) == (409, "plot_without_product")

    async def test_bad_bodies_422(self, client):
        farm = await field()
        headers = auth(await staff())
        for bad in (
            {**PLAN, "plot_id": farm.plot.id, "extra": 1},
            {**PLAN, "plot_id": farm.plot.id, "season": "明年"},
            {**PLAN, "plot_id": farm.plot.id, "shares": 0},
            {**PLAN, "plot_id": farm.plot.id, "share_price_fen": -1},
            {**PLAN, "plot_id": farm.plot.id, "yield_kg_per_share": "50"},
        ):
            response = await client.post("/api/admin/adoption-plans", json=bad, headers=headers)
            assert response.status_code == 422, bad


class TestPublicPlans:
    async def test_the_plan_tells_the_plot_story(self, client):
        farm = await field()
        await create_certificate(producer_id=farm.producer.id)
        plan = await create_plan(farm.plot)
        listed = await client.get("/api/adoption-plans")
        assert [p["id"] for p in listed.json()["items"]] == [plan.id]
        body = (await client.get(f"/api/adoption-plans/{plan.id}")).json()
        assert body["shares_left"] == 10
        assert [e["type"] for e in body["events"]] == ["planted", "harvested"]
        assert all(e["batch_no"] == farm.batch.batch_no for e in body["events"])
        assert body["plot"]["producer"]["license_no"] == farm.producer.license_no
        assert [c["kind"] for c in body["certificates"]] == ["geographical_indication"]

    async def test_unknown_plan_404(self, client):
        response = await client.get("/api/adoption-plans/424242")
        assert (response.status_code, response.json()["code"]) == (404, "adoption_plan_not_found")

    async def test_a_plan_whose_season_is_over_is_not_listed(self, client, shop_clock):
        farm = await field()
        await create_plan(farm.plot, season="2026")
        shop_clock.set(datetime(2027, 7, 1, tzinfo=UTC))
        assert (await client.get("/api/adoption-plans")).json()["items"] == []


class TestAdopt:
    async def test_an_order_of_kind_adoption_at_the_share_price(self, client):
        plan = await create_plan((await field()).plot, shares=10)
        user, address = await customer()
        response = await adopt(client, user, address, plan, shares=3)
        assert response.status_code == 201, response.text
        order = response.json()
        assert order["kind"] == OrderKind.adoption and order["status"] == OrderStatus.pending_payment
        assert order["total_fen"] == 3 * 198_000 and order["shipping_fen"] == 0
        assert order["items"][0]["name"].startswith("认养")
        assert await shares_left(plan.id) == 7

    async def test_a_company_adopts_more_shares_than_one_order_may_hold_units(self, client):
        """Shares are not units of stock: 120 shares at once (more than MAX_UNPAID_UNITS_PER_SKU and
        ORDER_MAX_QUANTITY_PER_SKU allow of a SKU) are one adoption; the unpaid orders cap still holds."""
        plan = await create_plan((await field()).plot, shares=200)
        user, address = await customer()
        response = await adopt(client, user, address, plan, shares=120)
        assert response.status_code == 201, response.text
        assert response.json()["items"][0]["quantity"] == 120
        for _ in range(2):
            assert (await adopt(client, user, address, plan, shares=1)).status_code == 201
        refused = await adopt(client, user, address, plan, shares=1)
        assert (refused.status_code, refused.json()["code"]) == (409, "too_many_unpaid_orders")

    async def test_no_stock_is_taken_by_adopting(self, client):
        farm = await field(stock=5)
        plan = await create_plan(farm.plot, shares=10)
        user, address = await customer()
        assert (await adopt(client, user, address, plan, shares=8)).status_code == 201
        assert await stock_of(farm.sku.id) == 5

    async def test_beyond_the_shares_left_409_and_nothing_written(self, client):
        plan = await create_plan((await field()).plot, shares=2)
        user, address = await customer()
        response = await adopt(client, user, address, plan, shares=3)
        assert (response.status_code, response.json()["code"]) == (409, "adoption_sold_out")
        assert await shares_left(plan.id) == 2
        mine = await client.get("/api/orders", headers=auth(user))
        assert mine.json()["items"] == []

    async def test_unpaid_cancel_gives_the_shares_back(self, client):
        plan = await create_plan((await field()).plot, shares=2)
        user, address = await customer()
        order = (await adopt(client, user, address, plan, shares=2)).json()
        assert await shares_left(plan.id) == 0
        cancelled = await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))
        assert cancelled.status_code == 200, cancelled.text
        assert await shares_left(plan.id) == 2

    async def test_pay_timeout_gives_the_shares_back(self, client, shop_clock):
        from app.orders import tasks as orders_tasks

        plan = await create_plan((await field()).plot, shares=2)
        user, address = await customer()
        await adopt(client, user, address, plan, shares=1)
        shop_clock.advance(timedelta(days=1))
        async with session_scope() as session:
            assert await orders_tasks.cancel_unpaid(session) == 1
        assert await shares_left(plan.id) == 2

    async def test_season_over_409(self, client, shop_clock):
        plan = await create_plan((await field()).plot)
        shop_clock.set(datetime(2027, 7, 1, tzinfo=UTC))
        user, address = await customer()
        response = await adopt(client, user, address, plan)
        assert (response.status_code, response.json()["code"]) == (409, "adoption_season_over")

    async def test_anonymous_401_unknown_plan_404_another_customers_address_404(self, client):
        plan = await create_plan((await field()).plot)
        user, address = await customer()
        _, other_address = await customer()
        anonymous = await client.post(
            f"/api/adoption-plans/{plan.id}/adopt", json={"shares": 1, "address_id": address.id}
        )
        assert anonymous.status_code == 401
        assert (await adopt(client, user, address, 999_999)).status_code == 404
        foreign = await adopt(client, user, other_address, plan)
        assert (foreign.status_code, foreign.json()["code"]) == (404, "address_not_found")


class TestMyAdoptions:
    async def test_only_paid_adoptions_show_with_their_kg_and_the_plot_events(self, client):
        plan = await create_plan((await field()).plot)
        user, address = await customer()
        unpaid = (await adopt(client, user, address, plan, shares=1)).json()
        assert (await client.get("/api/users/me/adoptions", headers=auth(user))).json() == []
        await pay(unpaid["id"])
        mine = (await client.get("/api/users/me/adoptions", headers=auth(user))).json()
        assert [(a["plan_id"], a["shares"], a["kg_total"], a["kg_left"]) for a in mine] == [
            (plan.id, 1, 50, 50)
        ]
        assert [e["type"] for e in mine[0]["events"]] == ["planted", "harvested"]
        other, _ = await customer()
        assert (await client.get("/api/users/me/adoptions", headers=auth(other))).json() == []
        assert (await client.get("/api/users/me/adoptions")).status_code == 401


class TestDeliveries:
    async def test_a_delivery_is_a_paid_order_of_zero_from_the_plot_batch(self, client):
        farm = await field()
        plan = await create_plan(farm.plot)
        user, address = await customer()
        adoption_id = await adopted(client, user, address, plan, shares=2)
        response = await deliver(client, user, address, adoption_id, 20)
        assert response.status_code == 201, response.text
        order = response.json()
        assert order["kind"] == OrderKind.adoption_delivery and order["status"] == OrderStatus.paid
        assert order["total_fen"] == 0
        assert [(i["sku_id"], i["quantity"]) for i in order["items"]] == [(farm.sku.id, 4)]
        mine = (await client.get("/api/users/me/adoptions", headers=auth(user))).json()
        assert (mine[0]["kg_total"], mine[0]["kg_left"]) == (100, 80)
        assert mine[0]["deliveries"][0]["batch_no"] == farm.batch.batch_no
        async with session_scope() as session:
            batches = (
                (
                    await session.execute(
                        select(BatchAllocation.batch_id).where(BatchAllocation.order_id == order["id"])
                    )
                )
                .scalars()
                .all()
            )
        assert batches == [farm.batch.id]

    async def test_staff_shipping_keeps_the_plot_batch(self, client):
        farm = await field()
        await field()  # another plot's batch of another product: never chosen
        plan = await create_plan(farm.plot)
        user, address = await customer()
        adoption_id = await adopted(client, user, address, plan)
        order = (await deliver(client, user, address, adoption_id, 10)).json()
        shipped = await client.post(
            f"/api/admin/orders/{order['id']}/ship",
            json={"carrier": "顺丰速运", "tracking_no": "SF1234567890"},
            headers=auth(await staff()),
        )
        assert shipped.status_code == 200, shipped.text
        async with session_scope() as session:
            rows = (
                await session.execute(
                    select(BatchAllocation.batch_id, BatchAllocation.quantity_g).where(
                        BatchAllocation.order_id == order["id"]
                    )
                )
            ).all()
        assert rows == [(farm.batch.id, 10_000)]

    async def test_more_than_left_409_and_nothing_drawn(self, client):
        plan = await create_plan((await field()).plot)
        user, address = await customer()
        adoption_id = await adopted(client, user, address, plan)
        assert (await deliver(client, user, address, adoption_id, 40)).status_code == 201
        response = await deliver(client, user, address, adoption_id, 15)
        assert (response.status_code, response.json()["code"]) == (409, "adoption_kg_exceeded")
        assert response.json()["kg_left"] == 10
        assert (await adoption_row(adoption_id)).kg_delivered == 40

    async def test_kg_not_in_whole_bags_422(self, client):
        plan = await create_plan((await field()).plot)
        user, address = await customer()
        adoption_id = await adopted(client, user, address, plan)
        response = await deliver(client, user, address, adoption_id, 7)
        assert (response.status_code, response.json()["code"]) == (422, "adoption_kg_not_whole_bags")

    async def test_unpaid_or_someone_elses_adoption_404(self, client):
        plan = await create_plan((await field()).plot)
        user, address = await customer()
        other, other_address = await customer()
        adoption_id = await adopted(client, user, address, plan)
        foreign = await deliver(client, other, other_address, adoption_id, 10)
        assert (foreign.status_code, foreign.json()["code"]) == (404, "adoption_not_found")
        unpaid = (await adopt(client, other, other_address, plan)).json()
        async with session_scope() as session:
            from app.adoptions.models import Adoption

            unpaid_id = (
                await session.execute(select(Adoption.id).where(Adoption.order_id == unpaid["id"]))
            ).scalar_one()
        refused = await deliver(client, other, other_address, unpaid_id, 10)
        assert refused.status_code == 404

    async def test_a_delivery_released_unshipped_gives_the_bags_back(self, client):
        """What a refund before shipping does to the order's reservation (app.orders.moves): the bags go back
        to stock, once; the kilograms stay drawn (staff settle that with the adopter)."""
        from app.orders import moves

        farm = await field(stock=100)
        plan = await create_plan(farm.plot)
        user, address = await customer()
        adoption_id = await adopted(client, user, address, plan)
        order = (await deliver(client, user, address, adoption_id, 10)).json()
        assert await stock_of(farm.sku.id) == 98
        for _ in range(2):  # at most once
            async with session_scope() as session:
                await moves.release_stock_of(session, [order["id"]])
        assert await stock_of(farm.sku.id) == 100
        assert (await adoption_row(adoption_id)).kg_delivered == 10
