"""Pre-sales through the API, on SQLite and on MariaDB: staff create them, customers order a deposit, pay it,
pay the balance in its window (the shop's clock moved, never slept), and the order ships from ships_from."""

from __future__ import annotations

from datetime import timedelta

from app.db import session_scope, utcnow
from app.presales import tasks as presales_tasks
from app.users.models import Role
from tests.orders.factories import count_orders, customer, get_order, sku_on_sale, staff, stock_of
from tests.payments.factories import events_of, start_payment
from tests.presales.factories import (
    BALANCE_FEN,
    DEPOSIT_FEN,
    body,
    create_presale,
    iso,
    mine,
    order,
    pay_stage,
    remaining,
)
from tests.users.factories import auth, create_user


class TestCreate:
    async def test_staff_create_a_presale_apart_from_the_stock(self, client):
        sku = await sku_on_sale(stock=5)
        response = await client.post("/api/admin/presales", json=body(sku.id), headers=auth(await staff()))
        assert response.status_code == 201, response.text
        made = response.json()
        assert (made["quota"], made["remaining"], made["deposit_fen"]) == (100, 100, DEPOSIT_FEN)
        assert made["refund_deposit_if_unpaid"] is False
        assert await stock_of(sku.id) == 5  # the quota is not the stock
        assert [e["presale_id"] for e in await events_of("presale.created")] == [made["id"]]
        listed = await client.get("/api/admin/presales", headers=auth(await staff()))
        assert [p["id"] for p in listed.json()["items"]] == [made["id"]]
        public = await client.get(f"/api/presales/{made['id']}")
        assert public.status_code == 200 and public.json()["remaining"] == 100

    async def test_customers_are_refused_and_anonymous_must_sign_in(self, client):
        sku = await sku_on_sale()
        user = await create_user(role=Role.customer)
        assert (
            await client.post("/api/admin/presales", json=body(sku.id), headers=auth(user))
        ).status_code == 403
        assert (await client.post("/api/admin/presales", json=body(sku.id))).status_code == 401
        assert (await client.get("/api/admin/presales", headers=auth(user))).status_code == 403

    async def test_bad_bodies_are_422_and_unknown_sku_404(self, client):
        sku = await sku_on_sale()
        headers = auth(await staff())
        now = utcnow()
        cases = [
            body(sku.id, extra=1),
            body(sku.id, quota=0),
            body(sku.id, deposit_fen=-1),
            body(sku.id, balance_starts_at=iso(now + timedelta(days=1))),  # before the deposits end
            body(sku.id, balance_ends_at=iso(now + timedelta(days=15))),  # before it starts
            body(sku.id, ships_from="2026-10-01T00:00:00"),  # no time zone
        ]
        for case in cases:
            response = await client.post("/api/admin/presales", json=case, headers=headers)
            assert response.status_code == 422, (case, response.text)
        response = await client.post("/api/admin/presales", json=body(99999), headers=headers)
        assert response.status_code == 404 and response.json()["code"] == "sku_not_found"
        assert (await client.get("/api/presales/99999")).status_code == 404


class TestDepositOrder:
    async def test_an_order_reserves_quota_not_stock_and_shows_its_two_amounts(self, client):
        sku = await sku_on_sale(stock=3)
        presale = await create_presale(sku)
        user, address = await customer()
        response = await order(client, user, address, presale, 2)
        assert response.status_code == 201, response.text
        placed = response.json()
        assert placed["kind"] == "presale" and placed["status"] == "pending_payment"
        assert placed["stage"] == "deposit"
        assert (placed["deposit_fen"], placed["balance_fen"]) == (2 * DEPOSIT_FEN, 2 * BALANCE_FEN)
        assert placed["amount_due_fen"] == 2 * DEPOSIT_FEN
        assert placed["total_fen"] == 2 * (DEPOSIT_FEN + BALANCE_FEN) + placed["shipping_fen"]
        assert await remaining(presale.id) == 98 and await stock_of(sku.id) == 3

    async def test_beyond_the_quota_is_409_and_takes_nothing(self, client):
        sku = await sku_on_sale(stock=100)
        presale = await create_presale(sku, quota=3)
        user, address = await customer()
        assert (await order(client, user, address, presale, 2)).status_code == 201
        response = await order(client, user, address, presale, 2)
        assert response.status_code == 409 and response.json()["code"] == "presale_sold_out"
        assert await remaining(presale.id) == 1 and await count_orders() == 1

    async def test_after_the_deposit_window_is_409(self, client, shop_clock):
        presale = await create_presale(await sku_on_sale())
        user, address = await customer()
        shop_clock.advance(timedelta(days=11))
        response = await order(client, user, address, presale)
        assert response.status_code == 409 and response.json()["code"] == "presale_not_open"
        assert await remaining(presale.id) == 100

    async def test_unknown_presale_404_bad_body_422_anonymous_401(self, client):
        user, address = await customer()
        response = await order(client, user, address, 99999)
        assert response.status_code == 404 and response.json()["code"] == "presale_not_found"
        presale = await create_presale(await sku_on_sale())
        bad = await client.post(
            f"/api/presales/{presale.id}/orders",
            json={"address_id": address.id, "quantity": 1, "price_fen": 1},
            headers=auth(user),
        )
        assert bad.status_code == 422
        anon = await client.post(f"/api/presales/{presale.id}/orders", json={"address_id": 1, "quantity": 1})
        assert anon.status_code == 401
        other, _ = await customer()
        response = await order(client, other, address, presale)  # someone else's address
        assert response.status_code == 404 and await remaining(presale.id) == 100

    async def test_an_idempotency_key_replays_the_same_order(self, client):
        presale = await create_presale(await sku_on_sale())
        user, address = await customer()
        first = await order(client, user, address, presale, key="k-presale-1")
        again = await order(client, user, address, presale, key="k-presale-1")
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert await count_orders() == 1 and await remaining(presale.id) == 99
        other = await order(client, user, address, presale, 2, key="k-presale-1")
        assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


class TestTwoPayments:
    async def test_deposit_then_balance_in_its_window_then_ship_from_ships_from(self, client, shop_clock):
        sku = await sku_on_sale(stock=10)
        presale = await create_presale(sku)
        user, address = await customer()
        placed = (await order(client, user, address, presale, 2)).json()

        payment, notice = await pay_stage(client, user, placed)
        assert payment["amount_fen"] == 2 * DEPOSIT_FEN
        assert notice.status_code == 200, notice.text
        assert (await get_order(placed["id"])).status == "deposit_paid"
        [deposit] = await events_of("order.deposit_paid")
        assert deposit["amount_fen"] == 2 * DEPOSIT_FEN
        [row] = await mine(client, user)
        assert (row["stage"], row["amount_due_fen"]) == ("deposit", placed["total_fen"] - 2 * DEPOSIT_FEN)

        # Before the balance window: no payment can start, and the notice job tells nobody yet.
        early = await client.post(
            f"/api/orders/{placed['id']}/payments", json={"channel": "sandbox"}, headers=auth(user)
        )
        assert early.status_code == 409 and early.json()["code"] == "presale_balance_not_open"
        async with session_scope() as session:
            assert await presales_tasks.notify_balance_open(session) == 0

        # No pay deadline while the balance waits: the unpaid-order job leaves it alone.
        shop_clock.advance(timedelta(days=20, minutes=1))
        from app.orders import jobs as orders_jobs

        async with session_scope() as session:
            await orders_jobs.cancel_expired(session)
            assert await presales_tasks.notify_balance_open(session) == 1
        async with session_scope() as session:
            assert await presales_tasks.notify_balance_open(session) == 0  # once
        [due] = await events_of("presale.balance_due")
        assert due["amount_due_fen"] == placed["total_fen"] - 2 * DEPOSIT_FEN
        [row] = await mine(client, user)
        assert row["stage"] == "balance" and row["status"] == "deposit_paid"

        balance, notice = await pay_stage(client, user, placed)
        assert balance["amount_fen"] == placed["total_fen"] - 2 * DEPOSIT_FEN
        assert notice.status_code == 200, notice.text
        paid = await get_order(placed["id"])
        assert paid.status == "paid" and paid.paid_amount_fen == placed["total_fen"]
        [row] = await mine(client, user)
        assert (row["stage"], row["amount_due_fen"]) == ("paid", 0)
        assert await stock_of(sku.id) == 10  # not yet taken

        ship = {"carrier": "顺丰速运", "tracking_no": "SF1234567890"}
        headers = auth(await staff())
        early = await client.post(f"/api/admin/orders/{placed['id']}/ship", json=ship, headers=headers)
        assert early.status_code == 409 and early.json()["code"] == "presale_not_shippable_yet"
        assert await stock_of(sku.id) == 10
        shop_clock.advance(timedelta(days=10))
        shipped = await client.post(f"/api/admin/orders/{placed['id']}/ship", json=ship, headers=headers)
        assert shipped.status_code == 200, shipped.text
        assert await stock_of(sku.id) == 8

    async def test_a_replayed_deposit_notice_changes_nothing(self, client):
        presale = await create_presale(await sku_on_sale())
        user, address = await customer()
        placed = (await order(client, user, address, presale)).json()
        payment = await start_payment(client, user, placed["id"])
        from tests.payments.factories import sandbox_body, sandbox_notify

        notice = sandbox_body(payment, placed, paid_at=iso(utcnow()))
        assert (await sandbox_notify(client, notice)).status_code == 200
        assert (await sandbox_notify(client, notice)).status_code == 200
        assert (await get_order(placed["id"])).status == "deposit_paid"
        assert len(await events_of("order.deposit_paid")) == 1

    async def test_a_notice_for_the_whole_total_instead_of_the_deposit_is_refused(self, client):
        presale = await create_presale(await sku_on_sale())
        user, address = await customer()
        placed = (await order(client, user, address, presale)).json()
        payment = await start_payment(client, user, placed["id"])
        from tests.payments.factories import sandbox_body, sandbox_notify

        notice = sandbox_body(payment, placed, amount_fen=placed["total_fen"])
        response = await sandbox_notify(client, notice)
        assert response.status_code == 400 and response.json()["code"] == "amount_mismatch"
        assert (await get_order(placed["id"])).status == "pending_payment"

    async def test_a_replayed_balance_notice_changes_nothing(self, client, shop_clock):
        from tests.payments.factories import sandbox_body, sandbox_notify

        presale = await create_presale(await sku_on_sale())
        user, address = await customer()
        placed = (await order(client, user, address, presale)).json()
        await pay_stage(client, user, placed)
        shop_clock.advance(timedelta(days=21))
        balance = await start_payment(client, user, placed["id"])
        notice = sandbox_body(balance, placed, paid_at=iso(utcnow()))
        assert (await sandbox_notify(client, notice)).status_code == 200
        assert (await sandbox_notify(client, notice)).status_code == 200
        paid = await get_order(placed["id"])
        assert paid.status == "paid" and paid.paid_amount_fen == placed["total_fen"]
        assert len(await events_of("order.paid")) == 1
        again = await client.post(
            f"/api/orders/{placed['id']}/payments", json={"channel": "sandbox"}, headers=auth(user)
        )
        assert again.status_code == 409  # nothing more to pay
