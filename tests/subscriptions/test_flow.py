"""A subscription from the customer's side: subscribe, pay, the deliveries on their dates, pause, resume,
skip, a new address, waiting for stock, cancelling with the exact refund. Time moves with the shop's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.checkout.pipeline import shipping_fee
from app.db import session_scope
from app.events import OutboxEvent
from app.kit.time import SHOP_TZ
from app.notifications.templates import render
from app.orders import tasks as orders_tasks
from app.payments.models import PaymentRefund
from app.traceability.models import BatchAllocation
from tests.orders.factories import count_orders, customer, set_stock, sku_on_sale, staff, stock_of
from tests.subscriptions.factories import (
    action,
    order_of,
    paid_subscription,
    pay_by_sandbox,
    read,
    run_job,
    staff_notifications,
    subscribe,
)
from tests.traceability import factories as trace_factories
from tests.users.factories import auth, create_address

BEIJING_MORNING = datetime(2027, 1, 31, 10, 0, tzinfo=SHOP_TZ)


async def _events(event_type: str) -> list[dict]:
    async with session_scope() as session:
        rows = (await session.execute(select(OutboxEvent).where(OutboxEvent.type == event_type))).scalars()
        return [row.data for row in rows]


class TestSubscribe:
    async def test_one_prepaid_order_for_every_period_and_no_stock_taken_yet(self, client):
        sku = await sku_on_sale(stock=10, price_fen=3333)
        user, address = await customer()
        response = await subscribe(client, user, address, sku, quantity=2, periods=3)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "pending_payment" and body["deliveries"] == [] and body["schedule"] == []
        assert (body["periods"], body["delivered_periods"], body["next_delivery_on"]) == (3, 0, None)
        order = await order_of(body["order_id"])
        # Shipping: one delivery's standard fee (here ¥66.66 < the free threshold: the flat fee) per period.
        per_delivery_shipping = shipping_fee(3333 * 2, "黑龙江省")
        assert order.kind == "subscription" and order.status == "pending_payment"
        assert order.total_fen == 3333 * 2 * 3 + per_delivery_shipping * 3 == body["total_fen"]
        assert await stock_of(sku.id) == 10

    async def test_bad_input_is_refused_and_writes_nothing(self, client):
        sku = await sku_on_sale()
        user, address = await customer()
        _, other_address = await customer()
        cases = [
            ({"interval": "daily"}, 422),
            ({"periods": 0}, 422),
            ({"periods": 25}, 422),
            ({"quantity": 0}, 422),
            ({"coupon_code": "X"}, 422),
            ({"address_id": other_address.id}, 404),
            ({"sku_id": 999_999}, 409),
        ]
        for overrides, expected in cases:
            response = await subscribe(client, user, address, sku, **overrides)
            assert response.status_code == expected, (overrides, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        assert await count_orders() == 0

    async def test_anonymous_is_refused(self, client):
        assert (await client.post("/api/subscriptions", json={})).status_code == 401
        assert (await client.get("/api/subscriptions")).status_code == 401

    async def test_an_idempotency_key_repeat_gets_the_same_subscription(self, client):
        sku = await sku_on_sale()
        user, address = await customer()
        body = {"sku_id": sku.id, "quantity": 1, "interval": "weekly", "periods": 4, "address_id": address.id}
        headers = {**auth(user), "Idempotency-Key": "sub-1"}
        first = await client.post("/api/subscriptions", json=body, headers=headers)
        again = await client.post("/api/subscriptions", json=body, headers=headers)
        assert first.status_code == again.status_code == 201
        assert first.json()["id"] == again.json()["id"] and await count_orders() == 1


class TestDeliveries:
    async def test_paid_it_delivers_that_day_then_on_each_date_never_twice(self, client, shop_clock):
        shop_clock.set(BEIJING_MORNING)
        sku = await sku_on_sale(stock=10)
        user, address = await customer()
        sub = await paid_subscription(client, user, address, sku, quantity=2, periods=3)
        assert sub["status"] == "active" and sub["delivered_periods"] == 1
        [first] = sub["deliveries"]
        assert first["scheduled_on"] == "2027-01-31"
        delivery = await order_of(first["order_id"])
        assert (delivery.kind, delivery.status, delivery.total_fen) == ("subscription_delivery", "paid", 0)
        assert await stock_of(sku.id) == 8
        # The calendar: 31 January, the last day of February, 31 March.
        assert [d["scheduled_on"] for d in sub["schedule"]] == ["2027-02-28", "2027-03-31"]
        assert sub["next_delivery_on"] == "2027-02-28"
        assert await run_job() == 0  # nothing more today
        shop_clock.set(datetime(2027, 2, 28, 9, 0, tzinfo=SHOP_TZ))
        await run_job()
        await run_job()
        sub = await read(client, user, sub["id"])
        assert sub["delivered_periods"] == 2 and await stock_of(sku.id) == 6
        assert sub["next_delivery_on"] == "2027-03-31"
        shop_clock.set(datetime(2027, 3, 31, 0, 30, tzinfo=SHOP_TZ))  # 30 March in UTC, 31 in Beijing
        await run_job()
        sub = await read(client, user, sub["id"])
        assert sub["status"] == "completed" and sub["delivered_periods"] == 3 and sub["schedule"] == []
        assert [d["scheduled_on"] for d in sub["deliveries"]] == ["2027-01-31", "2027-02-28", "2027-03-31"]
        assert len(await _events("subscription.delivered")) == 3

    async def test_a_delivery_ships_like_any_order_with_its_batch_recorded(self, client):
        sku = await sku_on_sale(stock=10)
        user, address = await customer()
        sub = await paid_subscription(client, user, address, sku)
        batch = await trace_factories.create_batch(product=await trace_factories.get_product(sku.product_id))
        order_id = sub["deliveries"][0]["order_id"]
        response = await client.post(
            f"/api/admin/orders/{order_id}/ship",
            json={
                "carrier": "顺丰速运",
                "tracking_no": "SF1234567890",
                "lines": [{"sku_id": sku.id, "batch_id": batch.id}],
            },
            headers=auth(await staff()),
        )
        assert response.status_code == 200 and response.json()["status"] == "shipped"
        async with session_scope() as session:
            allocated = (
                (
                    await session.execute(
                        select(BatchAllocation.batch_id).where(BatchAllocation.order_id == order_id)
                    )
                )
                .scalars()
                .all()
            )
        assert allocated == [batch.id]

    async def test_short_stock_waits_tells_once_and_goes_out_when_stock_returns(self, client, shop_clock):
        sku = await sku_on_sale(stock=0)
        await staff()
        user, address = await customer()
        sub = await paid_subscription(client, user, address, sku, quantity=2)
        assert sub["status"] == "waiting_for_stock" and sub["delivered_periods"] == 0
        assert sub["schedule"][0]["status"] == "waiting_for_stock"
        await run_job()
        [waiting] = await _events("subscription.waiting_for_stock")
        told = render("subscription.waiting_for_stock", waiting)
        assert told is not None and told.user_id == user.id and "补货后" in told.body
        assert await staff_notifications("subscription.waiting_for_stock") == 1
        await set_stock(sku.id, 5)
        await run_job()
        sub = await read(client, user, sub["id"])
        assert sub["status"] == "active" and sub["delivered_periods"] == 1 and await stock_of(sku.id) == 3

    async def test_pause_resume_skip_and_a_new_address(self, client, shop_clock):
        shop_clock.set(BEIJING_MORNING)
        sku = await sku_on_sale(stock=20)
        user, address = await customer()
        sub = await paid_subscription(client, user, address, sku, interval="weekly", periods=4)
        assert sub["next_delivery_on"] == "2027-02-07"
        skipped = (await action(client, user, sub["id"], "skip")).json()
        assert skipped["next_delivery_on"] == "2027-02-14"
        assert [d["scheduled_on"] for d in skipped["schedule"]] == ["2027-02-14", "2027-02-21", "2027-02-28"]
        assert (await action(client, user, sub["id"], "pause")).json()["status"] == "paused"
        assert (await action(client, user, sub["id"], "pause")).status_code == 409
        shop_clock.set(datetime(2027, 2, 20, 9, 0, tzinfo=SHOP_TZ))
        assert await run_job() == 0  # paused: nothing goes out
        resumed = (await action(client, user, sub["id"], "resume")).json()
        assert resumed["status"] == "active" and resumed["next_delivery_on"] == "2027-02-21"
        new_address = await create_address(user, detail="新地址 8 号")
        response = await client.patch(
            f"/api/subscriptions/{sub['id']}", json={"address_id": new_address.id}, headers=auth(user)
        )
        assert response.status_code == 200 and response.json()["address_id"] == new_address.id
        shop_clock.set(datetime(2027, 2, 21, 9, 0, tzinfo=SHOP_TZ))
        await run_job()
        sub = await read(client, user, sub["id"])
        assert (await order_of(sub["deliveries"][-1]["order_id"])).address["detail"] == "新地址 8 号"

    async def test_someone_elses_subscription_is_404_and_bad_bodies_422(self, client):
        sku = await sku_on_sale(stock=5)
        user, address = await customer()
        other, other_address = await customer()
        sub = (await subscribe(client, user, address, sku)).json()
        for name in ("pause", "resume", "skip", "cancel"):
            assert (await action(client, other, sub["id"], name)).status_code == 404
        assert (await client.get(f"/api/subscriptions/{sub['id']}", headers=auth(other))).status_code == 404
        patch = await client.patch(
            f"/api/subscriptions/{sub['id']}", json={"address_id": other_address.id}, headers=auth(user)
        )
        assert patch.status_code == 404 and patch.json()["code"] == "address_not_found"
        extra = await client.patch(
            f"/api/subscriptions/{sub['id']}", json={"address_id": address.id, "x": 1}, headers=auth(user)
        )
        assert extra.status_code == 422
        assert (await client.get("/api/subscriptions", headers=auth(user))).json()["total"] == 1


class TestCancel:
    async def test_refunds_exactly_the_undelivered_periods(self, client, shop_clock):
        """The refund goes through the ordinary path (a refund of the order's payment, at the gateway). The
        order's total here divides by its periods (price and shipping are both per period); totals that do
        not are proven in test_schedule.TestRefund."""
        shop_clock.set(BEIJING_MORNING)
        sku = await sku_on_sale(stock=10, price_fen=3333)
        user, address = await customer()
        sub = await paid_subscription(client, user, address, sku, periods=3)
        total = sub["total_fen"]
        response = await action(client, user, sub["id"], "cancel")
        assert response.status_code == 200, response.text
        body = response.json()
        expected = total - total * 1 // 3
        assert body["status"] == "cancelled" and body["refund_fen"] == expected
        async with session_scope() as session:
            [refund] = (await session.execute(select(PaymentRefund))).scalars().all()
        assert refund.amount_fen == expected and refund.status == "succeeded"
        assert (await order_of(sub["order_id"])).status == "paid"  # what was delivered stays paid
        [event] = await _events("subscription.cancelled")
        assert event["refund_fen"] == expected
        assert (await action(client, user, sub["id"], "cancel")).status_code == 409
        shop_clock.advance(timedelta(days=40))
        await run_job()
        assert (await read(client, user, sub["id"]))["delivered_periods"] == 1

    async def test_nothing_delivered_refunds_the_whole_order(self, client):
        sku = await sku_on_sale(stock=0)
        user, address = await customer()
        sub = await paid_subscription(client, user, address, sku, periods=2)
        assert sub["status"] == "waiting_for_stock"
        body = (await action(client, user, sub["id"], "cancel")).json()
        assert body["refund_fen"] == sub["total_fen"]
        assert (await order_of(sub["order_id"])).status == "refunded"

    async def test_unpaid_cancels_its_order(self, client):
        sku = await sku_on_sale(stock=3)
        user, address = await customer()
        sub = (await subscribe(client, user, address, sku)).json()
        body = (await action(client, user, sub["id"], "cancel")).json()
        assert body["status"] == "cancelled" and body["refund_fen"] == 0
        assert (await order_of(sub["order_id"])).status == "cancelled"

    async def test_an_order_that_timed_out_unpaid_ends_its_subscription(self, client, shop_clock):
        sku = await sku_on_sale(stock=3)
        user, address = await customer()
        sub = (await subscribe(client, user, address, sku)).json()
        shop_clock.advance(timedelta(days=1))
        async with session_scope() as session:
            await orders_tasks.cancel_unpaid(session)
        await run_job()
        assert (await read(client, user, sub["id"]))["status"] == "cancelled"


class TestStaff:
    async def test_list_and_upcoming_deliveries_for_staff_only(self, client, shop_clock):
        shop_clock.set(BEIJING_MORNING)
        sku = await sku_on_sale(stock=10)
        user, address = await customer()
        sub = await paid_subscription(client, user, address, sku, interval="weekly")
        merchant = await staff()
        listed = await client.get("/api/admin/subscriptions", headers=auth(merchant))
        assert listed.status_code == 200 and listed.json()["items"][0]["id"] == sub["id"]
        upcoming = await client.get("/api/admin/subscriptions/upcoming?days=7", headers=auth(merchant))
        assert [(u["subscription_id"], u["scheduled_on"]) for u in upcoming.json()] == [
            (sub["id"], "2027-02-07")
        ]
        for path in ("/api/admin/subscriptions", "/api/admin/subscriptions/upcoming"):
            assert (await client.get(path, headers=auth(user))).status_code == 403
            assert (await client.get(path)).status_code == 401


async def test_paid_anchor_is_the_beijing_day_of_payment(client, shop_clock):
    # 31 January 23:30 UTC is 1 February in Beijing.
    shop_clock.set(datetime(2027, 1, 31, 23, 30, tzinfo=UTC))
    sku = await sku_on_sale(stock=5)
    user, address = await customer()
    response = await subscribe(client, user, address, sku)
    await pay_by_sandbox(client, user, response.json()["order_id"])
    await run_job()
    sub = await read(client, user, response.json()["id"])
    assert sub["deliveries"][0]["scheduled_on"] == "2027-02-01"
