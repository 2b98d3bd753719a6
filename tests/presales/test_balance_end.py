"""The end of the balance window, refunds before and after the balance, and late payments (SQLite and
MariaDB; the shop's clock is moved, never slept)."""

from __future__ import annotations

from datetime import timedelta

from app.worker import run_job
from tests.orders.factories import customer, get_order, sku_on_sale, staff
from tests.payments.factories import events_of, refunds, sandbox_body, sandbox_notify, start_payment
from tests.presales.factories import create_presale, iso, order, pay_stage, remaining
from tests.users.factories import auth


async def _deposit_paid(client, **presale_overrides):
    presale = await create_presale(await sku_on_sale(stock=10), **presale_overrides)
    user, address = await customer()
    placed = (await order(client, user, address, presale, 2)).json()
    _, notice = await pay_stage(client, user, placed)
    assert notice.status_code == 200, notice.text
    assert await remaining(presale.id) == 98
    return presale, user, placed


class TestUnpaidBalance:
    async def test_the_worker_cancels_keeps_the_deposit_and_returns_the_quota(self, client, shop_clock):
        presale, _, placed = await _deposit_paid(client)
        shop_clock.advance(timedelta(days=26))
        assert await run_job("presales.cancel_unpaid_balances") == 0  # the window is still open
        shop_clock.advance(timedelta(days=1, minutes=1))
        assert await run_job("presales.cancel_unpaid_balances") == 1
        assert await run_job("presales.cancel_unpaid_balances") == 0
        assert (await get_order(placed["id"])).status == "cancelled"
        assert await remaining(presale.id) == 100
        assert await refunds() == []  # the deposit is kept
        [cancelled] = await events_of("order.cancelled")
        assert cancelled["order_id"] == placed["id"] and cancelled["stock_returned"] is True

    async def test_with_the_refund_rule_the_deposit_goes_back_through_the_refund_path(
        self, client, shop_clock
    ):
        presale, _, placed = await _deposit_paid(client, refund_deposit_if_unpaid=True)
        shop_clock.advance(timedelta(days=28))
        assert await run_job("presales.cancel_unpaid_balances") == 1
        assert (await get_order(placed["id"])).status == "refunding"
        assert await remaining(presale.id) == 100
        [refund] = await refunds()
        assert refund.amount_fen == placed["deposit_fen"] and refund.completes_order
        assert await run_job("payments.retry_refunds") == 1
        done = await get_order(placed["id"])
        assert done.status == "refunded"
        assert await remaining(presale.id) == 100  # once
        [refunded] = await events_of("order.refunded")
        assert refunded["amount_fen"] == placed["deposit_fen"]

    async def test_a_balance_paid_after_the_cancellation_is_refunded_automatically(self, client, shop_clock):
        _, user, placed = await _deposit_paid(client)
        shop_clock.advance(timedelta(days=26))
        balance = await start_payment(client, user, placed["id"])  # started in the window...
        shop_clock.advance(timedelta(days=2))
        assert await run_job("presales.cancel_unpaid_balances") == 1
        notice = sandbox_body(balance, placed, paid_at=iso(shop_clock.now()))  # ...paid after it closed
        assert (await sandbox_notify(client, notice)).status_code == 200
        assert (await get_order(placed["id"])).status == "cancelled"
        [refund] = await refunds()
        assert refund.payment_id == balance["id"] and refund.amount_fen == balance["amount_fen"]
        assert not refund.completes_order


class TestRefundRequests:
    async def test_before_the_balance_the_deposit_refund_follows_the_rule(self, client):
        _, user, placed = await _deposit_paid(client)
        response = await client.post(
            f"/api/orders/{placed['id']}/refund-request", json={"reason": "不想要了"}, headers=auth(user)
        )
        assert response.status_code == 409 and response.json()["code"] == "presale_deposit_not_refundable"
        assert (await get_order(placed["id"])).status == "deposit_paid"

        presale, user, placed = await _deposit_paid(client, refund_deposit_if_unpaid=True)
        response = await client.post(
            f"/api/orders/{placed['id']}/refund-request", json={"reason": "不想要了"}, headers=auth(user)
        )
        assert response.status_code == 200, response.text
        approved = await client.post(f"/api/admin/orders/{placed['id']}/refund", headers=auth(await staff()))
        assert approved.status_code == 200, approved.text
        assert (await get_order(placed["id"])).status == "refunded"
        assert [r.amount_fen for r in await refunds()] == [placed["deposit_fen"]]
        assert await remaining(presale.id) == 100

    async def test_after_full_payment_both_payments_go_back(self, client, shop_clock):
        presale, user, placed = await _deposit_paid(client)
        shop_clock.advance(timedelta(days=21))
        _, notice = await pay_stage(client, user, placed)
        assert notice.status_code == 200 and (await get_order(placed["id"])).status == "paid"
        response = await client.post(
            f"/api/orders/{placed['id']}/refund-request", json={"reason": "不想要了"}, headers=auth(user)
        )
        assert response.status_code == 200, response.text
        approved = await client.post(f"/api/admin/orders/{placed['id']}/refund", headers=auth(await staff()))
        assert approved.status_code == 200, approved.text
        assert (await get_order(placed["id"])).status == "refunded"
        assert sorted(r.amount_fen for r in await refunds()) == sorted(
            [placed["deposit_fen"], placed["total_fen"] - placed["deposit_fen"]]
        )
        assert await remaining(presale.id) == 100


class TestUnpaidDeposit:
    async def test_a_cancelled_or_timed_out_deposit_order_gives_its_quota_back_once(self, client, shop_clock):
        presale = await create_presale(await sku_on_sale(stock=10))
        user, address = await customer()
        first = (await order(client, user, address, presale, 2)).json()
        second = (await order(client, user, address, presale, 3)).json()
        assert await remaining(presale.id) == 95
        cancelled = await client.post(f"/api/orders/{first['id']}/cancel", headers=auth(user))
        assert cancelled.status_code == 200, cancelled.text
        assert await remaining(presale.id) == 97
        shop_clock.advance(timedelta(hours=2))
        assert await run_job("orders.cancel_unpaid") == 1
        assert (await get_order(second["id"])).status == "cancelled"
        assert await remaining(presale.id) == 100
        again = await client.post(f"/api/orders/{first['id']}/cancel", headers=auth(user))
        assert again.status_code == 409 and await remaining(presale.id) == 100
