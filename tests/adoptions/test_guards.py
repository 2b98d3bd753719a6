"""An adoption's order is paid once and goes out as delivery orders the adopter draws: staff never ship it,
and it may be refunded only while nothing was drawn (then its shares go back to the plan). A draw that races a
refund request never draws on a refunding order."""

from __future__ import annotations

import asyncio

import pytest

from app.db import session_scope
from app.orders.models import Order
from tests.adoptions.factories import adopted, adoption_row, create_plan, deliver, field, shares_left
from tests.conftest import IS_MYSQL
from tests.orders.factories import customer, staff
from tests.users.factories import auth


async def _order_of(adoption_id: int) -> Order:
    row = await adoption_row(adoption_id)
    async with session_scope() as session:
        return await session.get(Order, row.order_id)


async def _refund_request(client, user, order_id: int):
    return await client.post(
        f"/api/orders/{order_id}/refund-request", json={"reason": "换主意了"}, headers=auth(user)
    )


async def test_a_refund_after_kilograms_were_drawn_is_refused(client):
    farm = await field(stock=100)
    plan = await create_plan(farm.plot, shares=10)
    user, address = await customer()
    adoption_id = await adopted(client, user, address, plan, shares=2)
    assert (await deliver(client, user, address, adoption_id, 5)).status_code == 201
    order = await _order_of(adoption_id)
    response = await _refund_request(client, user, order.id)
    assert response.status_code == 409 and response.json()["code"] == "invalid_order_state"
    assert (await _order_of(adoption_id)).status == "paid"


async def test_a_refund_before_any_draw_is_accepted_and_no_draw_follows(client):
    farm = await field(stock=100)
    plan = await create_plan(farm.plot, shares=10)
    user, address = await customer()
    adoption_id = await adopted(client, user, address, plan, shares=2)
    order = await _order_of(adoption_id)
    response = await _refund_request(client, user, order.id)
    assert response.status_code == 200 and response.json()["status"] == "refunding"
    assert (await deliver(client, user, address, adoption_id, 5)).status_code in (404, 409)
    assert (await adoption_row(adoption_id)).kg_delivered == 0
    assert await shares_left(plan.id) >= 8


async def test_staff_cannot_ship_the_adoption_order(client):
    farm = await field(stock=100)
    plan = await create_plan(farm.plot, shares=10)
    user, address = await customer()
    adoption_id = await adopted(client, user, address, plan, shares=1)
    order = await _order_of(adoption_id)
    response = await client.post(
        f"/api/admin/orders/{order.id}/ship",
        json={"carrier": "顺丰速运", "tracking_no": "SF1234567891"},
        headers=auth(await staff()),
    )
    assert response.status_code == 409 and response.json()["code"] == "invalid_order_state"


@pytest.mark.skipif(not IS_MYSQL, reason="needs MariaDB/MySQL: real row locks")
async def test_a_draw_racing_a_refund_request_never_both_succeed(client):
    for _ in range(5):
        farm = await field(stock=100)
        plan = await create_plan(farm.plot, shares=10)
        user, address = await customer()
        adoption_id = await adopted(client, user, address, plan, shares=2)
        order = await _order_of(adoption_id)
        drawn, refund = await asyncio.gather(
            deliver(client, user, address, adoption_id, 5), _refund_request(client, user, order.id)
        )
        assert not (drawn.status_code == 201 and refund.status_code == 200), (drawn.text, refund.text)
        row = await adoption_row(adoption_id)
        final = await _order_of(adoption_id)
        assert (row.kg_delivered > 0) == (final.status == "paid")
