from __future__ import annotations

from app.orders.models import OrderStatus
from app.users.models import Role
from tests.orders.factories import customer, get_order, paid_order, pending_order, sku_on_sale
from tests.storefront.pages import csrf_from, log_in
from tests.users.factories import create_user


async def staff_client(client, role: Role = Role.merchant):
    await log_in(client, await create_user(role=role, nickname="店员"))
    return client


class TestAdminOrders:
    async def test_list_filters_by_status_and_phone(self, client):
        buyer, address = await customer()
        other, other_address = await customer()
        sku = await sku_on_sale()
        paid = await paid_order(client, buyer, address, sku)
        pending = await pending_order(client, other, other_address, sku)
        await staff_client(client)
        page = await client.get("/admin/orders", params={"status": "paid"})
        assert paid["order_no"] in page.text and pending["order_no"] not in page.text
        by_phone = await client.get("/admin/orders", params={"phone": other.phone})
        assert pending["order_no"] in by_phone.text and paid["order_no"] not in by_phone.text
        junk = await client.get("/admin/orders", params={"status": "x", "date_from": "soon", "page": "0"})
        assert junk.status_code == 200

    async def test_ship_with_carrier_and_tracking_number(self, client):
        buyer, address = await customer()
        order = await paid_order(client, buyer, address, await sku_on_sale())
        await staff_client(client)
        detail = await client.get(f"/admin/orders/{order['id']}")
        assert "确认发货" in detail.text and "顺丰速运" in detail.text
        token = csrf_from(detail.text)
        bad = await client.post(
            f"/admin/orders/{order['id']}/ship",
            data={"carrier": "顺丰速运", "tracking_no": "x!", "csrf_token": token},
        )
        assert bad.headers["location"].endswith("?error=ship")
        assert (await get_order(order["id"])).status == OrderStatus.paid
        response = await client.post(
            f"/admin/orders/{order['id']}/ship",
            data={"carrier": "顺丰速运", "tracking_no": "SF1234567890", "csrf_token": token},
        )
        assert response.status_code == 303 and response.headers["location"].endswith("?done=shipped")
        shipped = await get_order(order["id"])
        assert shipped.status == OrderStatus.shipped and shipped.tracking_no == "SF1234567890"
        again = await client.post(
            f"/admin/orders/{order['id']}/ship",
            data={"carrier": "顺丰速运", "tracking_no": "SF999999999", "csrf_token": token},
        )
        assert again.headers["location"].endswith("?error=state")
        assert (await get_order(order["id"])).tracking_no == "SF1234567890"

    async def test_refund_approve_and_reject(self, client):
        buyer, address = await customer()
        sku = await sku_on_sale()
        first = await paid_order(client, buyer, address, sku)
        second = await paid_order(client, buyer, address, sku)
        await log_in(client, buyer)
        token = csrf_from((await client.get(f"/orders/{first['id']}")).text)
        for order in (first, second):
            await client.post(
                f"/orders/{order['id']}/refund-request", data={"reason": "不想要了", "csrf_token": token}
            )
        client.cookies.clear()
        await staff_client(client)
        detail = await client.get(f"/admin/orders/{first['id']}")
        assert "不想要了" in detail.text and "同意退款" in detail.text
        token = csrf_from(detail.text)
        await client.post(f"/admin/orders/{first['id']}/refund", data={"csrf_token": token})
        assert (await get_order(first["id"])).status in (OrderStatus.refunded, OrderStatus.refunding)
        empty = await client.post(
            f"/admin/orders/{second['id']}/refund-reject", data={"reason": "", "csrf_token": token}
        )
        assert empty.headers["location"].endswith("?error=reason")
        await client.post(
            f"/admin/orders/{second['id']}/refund-reject", data={"reason": "已拆封", "csrf_token": token}
        )
        assert (await get_order(second["id"])).status == OrderStatus.paid

    async def test_customers_cannot_use_the_back_office(self, client):
        buyer, address = await customer()
        order = await paid_order(client, buyer, address, await sku_on_sale())
        await log_in(client, buyer)
        token = csrf_from((await client.get("/orders")).text)
        assert (await client.get("/admin/orders")).status_code == 403
        response = await client.post(
            f"/admin/orders/{order['id']}/ship",
            data={"carrier": "顺丰速运", "tracking_no": "SF1234567890", "csrf_token": token},
        )
        assert response.status_code == 403
        assert (await get_order(order["id"])).status == OrderStatus.paid

    async def test_anonymous_post_goes_to_login_and_changes_nothing(self, client):
        buyer, address = await customer()
        order = await paid_order(client, buyer, address, await sku_on_sale())
        token = csrf_from((await client.get("/login")).text)
        response = await client.post(
            f"/admin/orders/{order['id']}/ship",
            data={"carrier": "顺丰速运", "tracking_no": "SF1234567890", "csrf_token": token},
        )
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
        assert (await get_order(order["id"])).status == OrderStatus.paid


class TestDashboard:
    async def test_today_figures_and_low_stock(self, client):
        buyer, address = await customer()
        sku = await sku_on_sale(price_fen=5990, stock=12)
        await paid_order(client, buyer, address, sku, qty=3)  # stock 9: below the threshold of 10
        await pending_order(client, buyer, address, sku)
        await staff_client(client, Role.admin)
        page = await client.get("/admin/")
        text = page.text
        assert "今日订单" in text and "<strong>2</strong>" in text
        assert "¥" in text and "库存不足" in text and "5kg 真空包装" in text


class TestPayButton:
    async def test_pay_goes_to_the_sandbox_page(self, client):
        buyer, address = await customer()
        order = await pending_order(client, buyer, address, await sku_on_sale())
        await log_in(client, buyer)
        detail = await client.get(f"/orders/{order['id']}")
        assert "去付款" in detail.text
        response = await client.post(
            f"/orders/{order['id']}/pay", data={"csrf_token": csrf_from(detail.text)}
        )
        assert response.status_code == 303 and "/pay/sandbox/" in response.headers["location"]

    async def test_paying_someone_elses_order_is_404(self, client):
        owner, address = await customer()
        order = await pending_order(client, owner, address, await sku_on_sale())
        await log_in(client, await create_user())
        token = csrf_from((await client.get("/orders")).text)
        response = await client.post(f"/orders/{order['id']}/pay", data={"csrf_token": token})
        assert response.status_code == 404
