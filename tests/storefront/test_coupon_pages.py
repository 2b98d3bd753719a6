"""Coupon pages without a browser: the 领券中心 claims, 我的优惠券 tabs, the checkout page's coupon
choice (the best pre-selected; a refused coupon shows the form again), and the back office."""

from __future__ import annotations

import re
from datetime import timedelta

from app.cart.models import CartItem
from app.db import session_scope, utcnow
from app.kit.time import SHOP_TZ
from app.users.models import Role
from tests.coupons.factories import claimed_code, claims_of, create_coupon
from tests.orders.factories import count_orders, customer, sku_on_sale
from tests.storefront.pages import csrf_from, csrf_token, log_in
from tests.users.factories import create_user


async def _in_cart(user, sku, quantity: int) -> None:
    async with session_scope() as session:
        session.add(CartItem(user_id=user.id, sku_id=sku.id, quantity=quantity))


class TestCouponCentre:
    async def test_a_customer_claims_and_sees_it_under_unused(self, client):
        coupon = await create_coupon(name="新米尝鲜券", amount_fen=1000, threshold_fen=9900)
        user, _ = await customer()
        anonymous = await client.get("/coupons")
        assert "满99减10" in anonymous.text and "登录后领取" in anonymous.text
        await log_in(client, user)
        token = await csrf_token(client, "/coupons")
        claimed = await client.post(f"/coupons/{coupon.id}/claim", data={"csrf_token": token})
        assert claimed.status_code == 303 and claimed.headers["location"] == "/coupons?done=claimed"
        again = await client.post(f"/coupons/{coupon.id}/claim", data={"csrf_token": token})
        assert again.headers["location"] == "/coupons?error=coupon_limit_reached"
        assert "您已领取过这张券" in (await client.get(again.headers["location"])).text
        mine = await client.get("/account/coupons")
        assert "新米尝鲜券" in mine.text and (await claims_of(coupon.id))[0].code in mine.text
        assert "没有已使用的优惠券" in (await client.get("/account/coupons?status=used")).text


class TestCheckoutPage:
    async def test_the_best_coupon_is_chosen_and_the_order_gets_it(self, client):
        small = await create_coupon(name="小券", amount_fen=500)
        big = await create_coupon(name="大券", amount_fen=2000, threshold_fen=10000)
        too_high = await create_coupon(name="高门槛", amount_fen=9000, threshold_fen=100_000)
        sku = await sku_on_sale(price_fen=5990, stock=10)
        user, address = await customer()
        for coupon in (small, big, too_high):
            await claimed_code(client, user, coupon)
        await _in_cart(user, sku, 2)
        await log_in(client, user)
        page = await client.get("/checkout")
        assert page.status_code == 200
        checked = re.search(r'name="coupon_code" value="([A-Z0-9]+)" checked', page.text)
        big_code = next(c.code for c in await claims_of(big.id))
        assert checked and checked.group(1) == big_code
        assert 'id="checkout-discount">-¥20.00' in page.text
        placed = await client.post(
            "/checkout",
            data={
                "csrf_token": csrf_from(page.text),
                "address_id": str(address.id),
                "coupon_code": big_code,
                "idempotency_key": "page-key-12345",
            },
        )
        assert placed.status_code == 303, placed.text
        order = await client.get(placed.headers["location"])
        assert "-¥20.00" in order.text

    async def test_a_refused_coupon_shows_the_form_again(self, client):
        coupon = await create_coupon(amount_fen=500)
        sku = await sku_on_sale(price_fen=5990, stock=10)
        user, address = await customer()
        code = await claimed_code(client, user, coupon)
        await _in_cart(user, sku, 1)
        await log_in(client, user)
        page = await client.get("/checkout")
        response = await client.post(
            "/checkout",
            data={
                "csrf_token": csrf_from(page.text),
                "address_id": str(address.id),
                "coupon_code": code + "X",
            },
        )
        assert response.status_code == 422
        assert "没有找到这张优惠券" in response.text
        assert await count_orders() == 0


class TestBackOffice:
    async def test_staff_create_pause_and_see_usage(self, client):
        staff = await create_user(role=Role.merchant)
        await log_in(client, staff)
        page = await client.get("/admin/coupons")
        assert page.status_code == 200 and "新建优惠券" in page.text
        now = utcnow().astimezone(SHOP_TZ)
        form = {
            "csrf_token": csrf_from(page.text),
            "name": "满199减30",
            "kind": "fixed",
            "amount_yuan": "30",
            "threshold_yuan": "199",
            "starts_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
            "total_quantity": "100",
            "per_customer_limit": "1",
        }
        created = await client.post("/admin/coupons", data=form)
        assert created.status_code == 303, created.text
        listed = await client.get("/admin/coupons")
        assert "满199减30" in listed.text and "领取中" in listed.text
        coupon_id = int(re.search(r'action="/admin/coupons/(\d+)/pause"', listed.text).group(1))
        paused = await client.post(
            f"/admin/coupons/{coupon_id}/pause", data={"csrf_token": csrf_from(listed.text)}
        )
        assert paused.status_code == 303
        assert "已暂停" in (await client.get("/admin/coupons")).text

    async def test_a_bad_form_is_shown_again_with_a_message(self, client):
        staff = await create_user(role=Role.merchant)
        await log_in(client, staff)
        page = await client.get("/admin/coupons")
        response = await client.post(
            "/admin/coupons",
            data={"csrf_token": csrf_from(page.text), "name": "坏券", "kind": "fixed", "amount_yuan": "abc"},
        )
        assert response.status_code == 422
        assert "减免金额请填写金额" in response.text

    async def test_customers_get_the_403_page(self, client):
        user, _ = await customer()
        await log_in(client, user)
        assert (await client.get("/admin/coupons")).status_code == 403
