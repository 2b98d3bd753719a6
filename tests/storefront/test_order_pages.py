from __future__ import annotations

from sqlalchemy import select

from app.cart.models import CartItem
from app.db import session_scope
from app.orders.models import OrderStatus
from app.users.models import Role
from tests.orders.factories import (
    count_orders,
    customer,
    get_order,
    paid_order,
    pending_order,
    set_stock,
    shipped_order,
    sku_on_sale,
    stock_of,
)
from tests.storefront.pages import csrf_from, csrf_token, is_html, log_in
from tests.users.factories import auth, create_address, create_user


async def cart_lines(user) -> dict[int, int]:
    async with session_scope() as session:
        rows = await session.execute(
            select(CartItem.sku_id, CartItem.quantity).where(CartItem.user_id == user.id)
        )
        return dict(rows.all())


class TestCartPage:
    async def test_anonymous_add_to_cart_goes_to_login_and_back(self, client):
        sku = await sku_on_sale()
        await client.get("/login")
        token = await csrf_token(client, "/login")
        response = await client.post(
            "/cart/items",
            data={"sku_id": sku.id, "quantity": "2", "csrf_token": token},
            headers={"referer": f"http://testserver/products/{sku.product_id}"},
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next=/products/{sku.product_id}"

    async def test_add_twice_adds_up_and_shows_yuan(self, client):
        user, _ = await customer()
        sku = await sku_on_sale(price_fen=5990)
        await log_in(client, user)
        token = await csrf_token(client, "/cart")
        for _ in range(2):
            response = await client.post(
                "/cart/items", data={"sku_id": sku.id, "quantity": "1", "csrf_token": token}
            )
            assert response.status_code == 303 and response.headers["location"] == "/cart?done=added"
        assert await cart_lines(user) == {sku.id: 2}
        page = await client.get("/cart")
        assert "¥119.80" in page.text and "已加入购物车" not in page.text
        assert '<span class="badge" aria-label="共 2 件">2</span>' in page.text

    async def test_update_and_remove(self, client):
        user, _ = await customer()
        sku = await sku_on_sale()
        await log_in(client, user)
        token = await csrf_token(client, "/cart")
        await client.post("/cart/items", data={"sku_id": sku.id, "quantity": "1", "csrf_token": token})
        await client.post(f"/cart/items/{sku.id}", data={"quantity": "5", "csrf_token": token})
        assert await cart_lines(user) == {sku.id: 5}
        bad = await client.post(f"/cart/items/{sku.id}", data={"quantity": "-3", "csrf_token": token})
        assert bad.status_code == 422 and "数量需为 1 以上的整数" in bad.text
        assert await cart_lines(user) == {sku.id: 5}
        await client.post(f"/cart/items/{sku.id}/delete", data={"csrf_token": token})
        assert await cart_lines(user) == {}
        assert "购物车还是空的" in (await client.get("/cart")).text

    async def test_sold_out_sku_is_refused_with_a_message(self, client):
        user, _ = await customer()
        sku = await sku_on_sale(stock=0)
        await log_in(client, user)
        token = await csrf_token(client, "/cart")
        response = await client.post(
            "/cart/items", data={"sku_id": sku.id, "quantity": "1", "csrf_token": token}
        )
        assert response.status_code == 409 and "已售罄" in response.text
        assert await cart_lines(user) == {}

    async def test_csrf_refusal_leaves_the_cart_alone(self, client):
        user, _ = await customer()
        sku = await sku_on_sale()
        await log_in(client, user)
        response = await client.post(
            "/cart/items", data={"sku_id": sku.id, "quantity": "1", "csrf_token": "x" * 64}
        )
        assert response.status_code == 403
        assert await cart_lines(user) == {}


class TestCheckoutPage:
    async def test_places_the_order_for_the_cart_with_the_chosen_address(self, client):
        user, address = await customer()
        other = await create_address(user, is_default=False, recipient="王五", detail="另一个地址")
        sku = await sku_on_sale(price_fen=5990, stock=10)
        await log_in(client, user)
        token = await csrf_token(client, "/cart")
        await client.post("/cart/items", data={"sku_id": sku.id, "quantity": "2", "csrf_token": token})
        page = await client.get("/checkout")
        assert page.status_code == 200 and "王五" in page.text and "¥119.80" in page.text
        form_token = csrf_from(page.text)
        key = page.text.split('name="idempotency_key" value="')[1].split('"')[0]
        data = {"address_id": other.id, "note": "请放门卫", "idempotency_key": key, "csrf_token": form_token}
        response = await client.post("/checkout", data=data)
        assert response.status_code == 303
        order_id = int(response.headers["location"].split("/orders/")[1].split("?")[0])
        order = await get_order(order_id)
        assert order.status == OrderStatus.pending_payment and order.address["recipient"] == "王五"
        assert order.note == "请放门卫" and order.subtotal_fen == 11980
        assert await stock_of(sku.id) == 8 and await cart_lines(user) == {}
        # The same form sent twice (a double tap) does not place a second order.
        again = await client.post("/checkout", data=data)
        assert again.status_code in (303, 200) and await count_orders() == 1
        detail = await client.get(response.headers["location"])
        assert "订单已提交，请尽快付款" in detail.text and "待付款" in detail.text
        assert address.id != other.id

    async def test_out_of_stock_goes_back_to_the_cart_and_reserves_nothing(self, client):
        user, address = await customer()
        plenty, scarce = await sku_on_sale(stock=5), await sku_on_sale(stock=5)
        await log_in(client, user)
        token = await csrf_token(client, "/cart")
        for sku in (plenty, scarce):
            await client.post("/cart/items", data={"sku_id": sku.id, "quantity": "2", "csrf_token": token})
        page = await client.get("/checkout")
        await set_stock(scarce.id, 0)  # sold out while the customer looked at the checkout page
        response = await client.post(
            "/checkout",
            data={"address_id": address.id, "idempotency_key": "k" * 20, "csrf_token": csrf_from(page.text)},
        )
        assert response.status_code == 409 and "库存不足" in response.text
        assert await count_orders() == 0
        assert await stock_of(plenty.id) == 5 and await stock_of(scarce.id) == 0
        assert await cart_lines(user) == {plenty.id: 2, scarce.id: 2}

    async def test_another_customers_address_is_refused(self, client):
        user, _ = await customer()
        _, stranger_address = await customer()
        sku = await sku_on_sale()
        await log_in(client, user)
        token = await csrf_token(client, "/cart")
        await client.post("/cart/items", data={"sku_id": sku.id, "quantity": "1", "csrf_token": token})
        response = await client.post(
            "/checkout",
            data={"address_id": stranger_address.id, "idempotency_key": "k" * 20, "csrf_token": token},
        )
        assert response.status_code == 422 and "请选择收货地址" in response.text
        assert await count_orders() == 0

    async def test_empty_cart_goes_to_the_cart(self, client):
        await log_in(client, await create_user())
        response = await client.get("/checkout")
        assert response.status_code == 303 and response.headers["location"] == "/cart"


class TestOrderPages:
    async def test_list_and_detail_with_timeline(self, client):
        user, address = await customer()
        sku = await sku_on_sale(price_fen=5990)
        order = await shipped_order(client, user, address, sku, qty=2)
        await log_in(client, user)
        listing = await client.get("/orders")
        assert order["order_no"] in listing.text and "已发货" in listing.text
        detail = await client.get(f"/orders/{order['id']}")
        assert detail.status_code == 200
        text = detail.text
        assert "SF1234567890" in text and "顺丰速运" in text
        assert text.index("订单已提交") < text.index("付款成功") < text.index("商家已发货")
        assert "¥119.80" in text and "确认收货" in text

    async def test_status_filter(self, client):
        user, address = await customer()
        sku = await sku_on_sale()
        pending = await pending_order(client, user, address, sku)
        paid = await paid_order(client, user, address, sku)
        await log_in(client, user)
        page = await client.get("/orders?status=paid")
        assert paid["order_no"] in page.text and pending["order_no"] not in page.text
        assert (await client.get("/orders?status=bogus&page=x")).status_code == 200

    async def test_confirm_receipt(self, client):
        user, address = await customer()
        order = await shipped_order(client, user, address, await sku_on_sale())
        await log_in(client, user)
        token = csrf_from((await client.get(f"/orders/{order['id']}")).text)
        response = await client.post(f"/orders/{order['id']}/confirm-receipt", data={"csrf_token": token})
        assert response.status_code == 303
        assert (await get_order(order["id"])).status == OrderStatus.completed
        page = await client.get(response.headers["location"])
        assert "已确认收货" in page.text
        again = await client.post(f"/orders/{order['id']}/confirm-receipt", data={"csrf_token": token})
        assert again.headers["location"].endswith("?error=state")
        assert "不允许这个操作" in (await client.get(again.headers["location"])).text

    async def test_cancel_returns_the_stock(self, client):
        user, address = await customer()
        sku = await sku_on_sale(stock=10)
        order = await pending_order(client, user, address, sku, qty=3)
        await log_in(client, user)
        token = csrf_from((await client.get(f"/orders/{order['id']}")).text)
        await client.post(f"/orders/{order['id']}/cancel", data={"csrf_token": token})
        assert (await get_order(order["id"])).status == OrderStatus.cancelled
        assert await stock_of(sku.id) == 10

    async def test_refund_request_needs_a_reason(self, client):
        user, address = await customer()
        order = await paid_order(client, user, address, await sku_on_sale())
        await log_in(client, user)
        token = csrf_from((await client.get(f"/orders/{order['id']}")).text)
        empty = await client.post(
            f"/orders/{order['id']}/refund-request", data={"reason": " ", "csrf_token": token}
        )
        assert empty.headers["location"].endswith("?error=reason")
        assert (await get_order(order["id"])).status == OrderStatus.paid
        await client.post(
            f"/orders/{order['id']}/refund-request", data={"reason": "买多了", "csrf_token": token}
        )
        assert (await get_order(order["id"])).status == OrderStatus.refunding
        page = await client.get(f"/orders/{order['id']}")
        assert "退款中" in page.text and "申请退款：买多了" in page.text

    async def test_another_customers_order_is_404_and_untouched(self, client):
        owner, address = await customer()
        order = await shipped_order(client, owner, address, await sku_on_sale())
        await log_in(client, await create_user())
        response = await client.get(f"/orders/{order['id']}")
        assert response.status_code == 404 and is_html(response) and order["order_no"] not in response.text
        token = await csrf_token(client, "/orders")
        for action in ("confirm-receipt", "cancel", "refund-request"):
            response = await client.post(
                f"/orders/{order['id']}/{action}", data={"reason": "x", "csrf_token": token}
            )
            assert response.status_code == 404
        assert (await get_order(order["id"])).status == OrderStatus.shipped

    async def test_anonymous_is_sent_to_login(self, client):
        response = await client.get("/orders/1")
        assert response.status_code == 303 and response.headers["location"] == "/login?next=/orders/1"


class TestLimitsOnThePages:
    async def test_a_checkout_past_the_unpaid_limit_says_why_and_reserves_nothing(self, client):
        user, address = await customer()
        sku = await sku_on_sale(stock=50)
        for _ in range(3):
            await pending_order(client, user, address, sku)
        await log_in(client, user)
        token = await csrf_token(client, "/cart")
        await client.post("/cart/items", data={"sku_id": sku.id, "quantity": "1", "csrf_token": token})
        page = await client.get("/checkout")
        key = page.text.split('name="idempotency_key" value="')[1].split('"')[0]
        response = await client.post(
            "/checkout",
            data={"address_id": address.id, "idempotency_key": key, "csrf_token": csrf_from(page.text)},
        )
        assert response.status_code == 409 and is_html(response)
        assert "您已有 3 个待付款订单" in response.text
        assert (await count_orders(), await stock_of(sku.id), await cart_lines(user)) == (3, 47, {sku.id: 1})

    async def test_an_address_needing_correction_cannot_be_chosen_at_checkout(self, client):
        user = await create_user()
        broken = await create_address(user, province="火星", needs_correction=True, recipient="赵六")
        sku = await sku_on_sale(stock=5)
        await log_in(client, user)
        token = await csrf_token(client, "/cart")
        await client.post("/cart/items", data={"sku_id": sku.id, "quantity": "1", "csrf_token": token})
        page = await client.get("/checkout")
        assert f'value="{broken.id}" disabled' in page.text and "请先更正" in page.text
        key = page.text.split('name="idempotency_key" value="')[1].split('"')[0]
        response = await client.post(
            "/checkout",
            data={"address_id": broken.id, "idempotency_key": key, "csrf_token": csrf_from(page.text)},
        )
        assert response.status_code == 409 and "省份无法识别" in response.text
        assert (await count_orders(), await stock_of(sku.id)) == (0, 5)

    async def test_refund_requests_stop_at_the_cap_and_the_page_says_so(self, client):
        user, address = await customer()
        order = await paid_order(client, user, address, await sku_on_sale())
        clerk = auth(await create_user(role=Role.merchant))
        await log_in(client, user)
        for round_ in range(3):
            page = await client.get(f"/orders/{order['id']}")
            assert "提交退款申请" in page.text
            assert ("还可申请" in page.text) == (round_ > 0)
            token = csrf_from(page.text)
            await client.post(
                f"/orders/{order['id']}/refund-request", data={"reason": "不想要了", "csrf_token": token}
            )
            rejected = await client.post(
                f"/api/admin/orders/{order['id']}/refund-reject", json={"reason": "已发出"}, headers=clerk
            )
            assert rejected.json()["status"] == "paid"

        page = await client.get(f"/orders/{order['id']}")
        assert "已申请过 3 次退款" in page.text and "提交退款申请" not in page.text
        response = await client.post(
            f"/orders/{order['id']}/refund-request",
            data={"reason": "再试一次", "csrf_token": csrf_from(page.text)},
        )
        assert response.headers["location"] == f"/orders/{order['id']}?error=refund_limit"
        shown = await client.get(response.headers["location"])
        assert "退款申请次数已达上限" in shown.text
        assert (await get_order(order["id"])).status == OrderStatus.paid
