"""Spending a coupon at checkout (POST /api/orders with coupon_code) and getting it back when the unpaid
order is cancelled or times out; a refund of a paid order does not give it back."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.config import get_settings
from app.db import session_scope, utcnow
from app.orders import payment_moves
from app.orders import service as orders_service
from app.orders.models import Order
from app.orders.state import SYSTEM
from app.worker import run_job
from tests.catalog.factories import create_category, create_product
from tests.coupons.factories import claimed_code, claims_of, create_coupon, expire
from tests.orders.factories import count_orders, customer, pay, place, sku_on_sale, stock_of
from tests.problems import assert_problem
from tests.users.factories import auth


async def _claim_status(coupon_id: int) -> list[tuple[str, int | None]]:
    return [(c.status, c.order_id) for c in await claims_of(coupon_id)]


class TestCheckoutWithACoupon:
    async def test_manjian_takes_its_amount_off_and_the_coupon_is_used(self, client):
        coupon = await create_coupon(amount_fen=3000, threshold_fen=19900)
        sku = await sku_on_sale(price_fen=12800, stock=10)
        user, address = await customer()
        code = await claimed_code(client, user, coupon)
        response = await place(client, user, address, [(sku.id, 2)], coupon_code=code.lower())
        assert response.status_code == 201, response.text
        order = response.json()
        settings = get_settings()
        # Shipping is reckoned on the subtotal before the discount.
        expected_shipping = (
            0 if 25600 >= settings.shipping_free_threshold_fen else settings.shipping_flat_fee_fen
        )
        assert (order["subtotal_fen"], order["discount_fen"], order["shipping_fen"]) == (
            25600,
            3000,
            expected_shipping,
        )
        assert order["total_fen"] == 25600 - 3000 + expected_shipping
        assert order["coupon_code"] == code
        assert [i["discount_fen"] for i in order["items"]] == [3000]
        assert await _claim_status(coupon.id) == [("used", order["id"])]
        mine = (await client.get("/api/users/me/coupons?status=used", headers=auth(user))).json()
        assert [c["order_id"] for c in mine["items"]] == [order["id"]]
        staff_view = (await client.get(f"/api/orders/{order['id']}", headers=auth(user))).json()
        assert staff_view["discount_fen"] == 3000

    async def test_a_scoped_percent_coupon_discounts_the_eligible_lines_only(self, client):
        rice = await create_category(name="五常大米")
        child = await create_category(name="稻花香", parent=rice)
        in_scope = await create_product(
            category=child, skus=[dict(name="5kg", price_fen=5990, stock=9, weight_g=5000)]
        )
        other = await sku_on_sale(price_fen=3990, stock=9)
        coupon = await create_coupon(
            kind="percent", amount_fen=None, percent_off=15, max_discount_fen=5000, category_ids=[rice.id]
        )
        user, address = await customer()
        code = await claimed_code(client, user, coupon)
        skus = (await client.get(f"/api/products/{in_scope.id}")).json()["skus"]
        response = await place(client, user, address, [(skus[0]["id"], 3), (other.id, 1)], coupon_code=code)
        assert response.status_code == 201, response.text
        order = response.json()
        assert order["discount_fen"] == 5990 * 3 * 15 // 100  # 2695 (2695.5 rounded down)
        by_sku = {i["sku_id"]: i["discount_fen"] for i in order["items"]}
        assert by_sku == {skus[0]["id"]: 2695, other.id: 0}
        assert sum(by_sku.values()) == order["discount_fen"]

    async def test_the_discount_splits_over_eligible_lines_and_adds_up(self, client):
        coupon = await create_coupon(amount_fen=1001)
        a = await sku_on_sale(price_fen=5990, stock=9)
        b = await sku_on_sale(price_fen=12900, stock=9)
        c = await sku_on_sale(price_fen=333, stock=9)
        user, address = await customer()
        code = await claimed_code(client, user, coupon)
        order = (
            await place(client, user, address, [(a.id, 1), (b.id, 2), (c.id, 3)], coupon_code=code)
        ).json()
        shares = [i["discount_fen"] for i in order["items"]]
        assert sum(shares) == order["discount_fen"] == 1001
        assert all(0 <= s <= i["subtotal_fen"] for s, i in zip(shares, order["items"], strict=True))


class TestRefusals:
    async def test_below_the_threshold_is_422_and_nothing_changes(self, client):
        coupon = await create_coupon(amount_fen=3000, threshold_fen=19900)
        sku = await sku_on_sale(price_fen=12800, stock=10)
        user, address = await customer()
        code = await claimed_code(client, user, coupon)
        body = assert_problem(
            await place(client, user, address, [(sku.id, 1)], coupon_code=code), 422, "coupon_not_applicable"
        )
        assert body["reason"] == "below_threshold"
        assert await count_orders() == 0 and await stock_of(sku.id) == 10
        assert await _claim_status(coupon.id) == [("unused", None)]

    async def test_out_of_scope_is_422(self, client):
        scoped = await sku_on_sale()
        other = await sku_on_sale()
        coupon = await create_coupon(product_ids=[scoped.product_id])
        user, address = await customer()
        code = await claimed_code(client, user, coupon)
        body = assert_problem(
            await place(client, user, address, [(other.id, 1)], coupon_code=code),
            422,
            "coupon_not_applicable",
        )
        assert body["reason"] == "out_of_scope"

    async def test_someone_elses_or_an_unknown_code_is_not_found(self, client):
        coupon = await create_coupon()
        sku = await sku_on_sale()
        owner, _ = await customer()
        thief, address = await customer()
        code = await claimed_code(client, owner, coupon)
        assert_problem(
            await place(client, thief, address, [(sku.id, 1)], coupon_code=code), 422, "coupon_not_found"
        )
        assert_problem(
            await place(client, thief, address, [(sku.id, 1)], coupon_code="NOPE"), 422, "coupon_not_found"
        )

    async def test_a_used_coupon_cannot_be_used_again(self, client):
        coupon = await create_coupon()
        sku = await sku_on_sale()
        user, address = await customer()
        code = await claimed_code(client, user, coupon)
        assert (await place(client, user, address, [(sku.id, 1)], coupon_code=code)).status_code == 201
        body = assert_problem(
            await place(client, user, address, [(sku.id, 1)], coupon_code=code), 422, "coupon_not_applicable"
        )
        assert body["reason"] == "used"
        assert await count_orders() == 1

    async def test_an_expired_coupon_is_not_applicable(self, client):
        coupon = await create_coupon()
        sku = await sku_on_sale()
        user, address = await customer()
        code = await claimed_code(client, user, coupon)
        await expire(coupon.id)
        body = assert_problem(
            await place(client, user, address, [(sku.id, 1)], coupon_code=code), 422, "coupon_not_applicable"
        )
        assert body["reason"] == "expired"

    async def test_an_order_that_fails_leaves_the_coupon_unused(self, client):
        coupon = await create_coupon()
        sku = await sku_on_sale(stock=1)
        user, address = await customer()
        code = await claimed_code(client, user, coupon)
        assert_problem(
            await place(client, user, address, [(sku.id, 2)], coupon_code=code), 409, "out_of_stock"
        )
        assert await _claim_status(coupon.id) == [("unused", None)]
        assert (await place(client, user, address, [(sku.id, 1)], coupon_code=code)).status_code == 201


class TestGivenBack:
    async def test_cancelling_an_unpaid_order_gives_the_coupon_back(self, client):
        coupon = await create_coupon()
        sku = await sku_on_sale()
        user, address = await customer()
        code = await claimed_code(client, user, coupon)
        order = (await place(client, user, address, [(sku.id, 1)], coupon_code=code)).json()
        cancelled = await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))
        assert cancelled.status_code == 200, cancelled.text
        assert await _claim_status(coupon.id) == [("unused", None)]
        again = await place(client, user, address, [(sku.id, 1)], coupon_code=code)
        assert again.status_code == 201 and again.json()["discount_fen"] == 1000

    async def test_an_order_that_times_out_gives_the_coupon_back(self, client):
        coupon = await create_coupon()
        sku = await sku_on_sale()
        user, address = await customer()
        code = await claimed_code(client, user, coupon)
        order = (await place(client, user, address, [(sku.id, 1)], coupon_code=code)).json()
        async with session_scope() as session:
            await session.execute(
                update(Order)
                .where(Order.id == order["id"])
                .values(pay_deadline=utcnow() - timedelta(seconds=1))
            )
        assert await run_job("orders.cancel_unpaid") == 1
        assert await _claim_status(coupon.id) == [("unused", None)]

    async def test_a_coupon_given_back_after_its_end_reads_as_expired(self, client):
        coupon = await create_coupon()
        sku = await sku_on_sale()
        user, address = await customer()
        code = await claimed_code(client, user, coupon)
        order = (await place(client, user, address, [(sku.id, 1)], coupon_code=code)).json()
        await expire(coupon.id)
        await client.post(f"/api/orders/{order['id']}/cancel", headers=auth(user))
        mine = (await client.get("/api/users/me/coupons", headers=auth(user))).json()
        assert [c["status"] for c in mine["items"]] == ["expired"]

    async def test_a_refunded_paid_order_keeps_its_coupon_used(self, client):
        coupon = await create_coupon()
        sku = await sku_on_sale()
        user, address = await customer()
        code = await claimed_code(client, user, coupon)
        order = (await place(client, user, address, [(sku.id, 1)], coupon_code=code)).json()
        await pay(order["id"])
        async with session_scope() as session:
            await orders_service.begin_refund(session, order["id"], actor=SYSTEM, reason="不想要了")
            assert await payment_moves.complete_refund(session, order["id"])
        assert await _claim_status(coupon.id) == [("used", order["id"])]
