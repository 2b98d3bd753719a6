"""Season end: what a paid adopter has not drawn by 30 June of the next year (Beijing) is shipped to their
default address, once (app.flows.adoption_season)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.adoptions.models import AdoptionDelivery
from app.db import session_scope
from app.flows import adoption_season
from app.orders.models import Order, OrderKind, OrderStatus
from tests.adoptions.factories import adopt, adopted, adoption_row, create_plan, deliver, field
from tests.orders.factories import customer
from tests.users.factories import auth, create_address

SEASON_OVER = datetime(2027, 6, 30, 16, 0, tzinfo=UTC)  # 2027-07-01 00:00 in Beijing


async def run_job() -> int:
    async with session_scope() as session:
        return await adoption_season.ship_season_end(session)


async def delivery_orders(user_id: int) -> list[Order]:
    async with session_scope() as session:
        rows = await session.execute(
            select(Order).where(Order.user_id == user_id, Order.kind == OrderKind.adoption_delivery)
        )
        return list(rows.scalars().all())


class TestSeasonEnd:
    async def test_what_is_left_ships_to_the_default_address_once(self, client, shop_clock):
        farm = await field()
        plan = await create_plan(farm.plot)
        user, address = await customer()
        home = await create_address(user, is_default=True, detail="民乐乡 8 号", recipient="李四")
        adoption_id = await adopted(client, user, address, plan)
        assert (await deliver(client, user, address, adoption_id, 20)).status_code == 201
        shop_clock.set(SEASON_OVER.replace(hour=15))
        assert await run_job() == 0  # not yet
        shop_clock.set(SEASON_OVER)
        assert await run_job() == 1
        assert await run_job() == 0
        orders = sorted(await delivery_orders(user.id), key=lambda o: o.id)
        assert len(orders) == 2
        last = orders[-1]
        assert last.status == OrderStatus.paid and last.total_fen == 0
        assert last.address["detail"] == home.detail
        row = await adoption_row(adoption_id)
        assert row.kg_delivered == row.kg_total and row.season_closed_at is not None
        async with session_scope() as session:
            by_season_end = (
                (
                    await session.execute(
                        select(AdoptionDelivery.kg).where(AdoptionDelivery.by_season_end.is_(True))
                    )
                )
                .scalars()
                .all()
            )
        assert by_season_end == [30]
        mine = (await client.get("/api/users/me/adoptions", headers=auth(user))).json()
        assert mine[0]["kg_left"] == 0

    async def test_after_the_season_a_request_is_refused(self, client, shop_clock):
        plan = await create_plan((await field()).plot)
        user, address = await customer()
        adoption_id = await adopted(client, user, address, plan)
        shop_clock.set(SEASON_OVER)
        response = await deliver(client, user, address, adoption_id, 10)
        assert (response.status_code, response.json()["code"]) == (409, "adoption_season_over")

    async def test_unpaid_and_fully_drawn_adoptions_ship_nothing(self, client, shop_clock):
        plan = await create_plan((await field()).plot)
        user, address = await customer()
        assert (await adopt(client, user, address, plan)).status_code == 201  # never paid
        drawn = await adopted(client, user, address, plan)
        assert (await deliver(client, user, address, drawn, 50)).status_code == 201
        shop_clock.set(SEASON_OVER)
        assert await run_job() == 1  # the fully drawn one is closed, with no order
        assert len(await delivery_orders(user.id)) == 1
        assert (await adoption_row(drawn)).season_closed_at is not None

    async def test_an_adopter_without_a_usable_address_is_tried_again_later(self, client, shop_clock):
        plan = await create_plan((await field()).plot)
        user, address = await customer()
        adoption_id = await adopted(client, user, address, plan)
        async with session_scope() as session:
            from app.users.models import Address

            row = await session.get(Address, address.id)
            row.needs_correction = True
        shop_clock.set(SEASON_OVER)
        assert await run_job() == 0
        assert (await adoption_row(adoption_id)).season_closed_at is None
