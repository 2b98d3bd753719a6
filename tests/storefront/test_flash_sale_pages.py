"""Flash-sale pages without a browser: the back office creates and cancels a sale through its form, the
countdown page lists it, and a refused purchase shows the sale again with the reason."""

from __future__ import annotations

from app.users.models import Role
from tests.flash_sales.factories import create_flash_sale, remaining
from tests.orders.factories import customer, sku_on_sale, stock_of
from tests.storefront.pages import csrf_from, log_in
from tests.users.factories import create_user


class TestBackOffice:
    async def test_staff_create_a_sale_with_the_form_then_cancel_it(self, client):
        sku = await sku_on_sale(stock=30)
        await log_in(client, await create_user(role=Role.merchant, nickname="店员"))
        page = await client.get("/admin/flash-sales")
        assert page.status_code == 200 and "新建秒杀" in page.text
        form = {
            "sku_id": str(sku.id),
            "price": "39.90",
            "quantity": "10",
            "per_customer_limit": "1",
            "starts_at": "2026-11-29T20:00",
            "ends_at": "2099-12-01T20:00",
            "csrf_token": csrf_from(page.text),
        }
        too_many = await client.post("/admin/flash-sales", data={**form, "quantity": "31"})
        assert too_many.status_code == 409 and "库存不足" in too_many.text
        bad_window = await client.post("/admin/flash-sales", data={**form, "ends_at": "2026-11-29T19:00"})
        assert bad_window.status_code == 422 and "结束时间必须晚于开始时间" in bad_window.text
        created = await client.post("/admin/flash-sales", data=form)
        assert created.status_code == 303 and created.headers["location"] == "/admin/flash-sales?done=created"
        assert await stock_of(sku.id) == 20
        listing = await client.get("/admin/flash-sales?done=created")
        assert "秒杀活动已创建" in listing.text and "¥39.90" in listing.text and "进行中" in listing.text
        sale_id = int(listing.text.split('href="/flash-sales/', 1)[1].split('"', 1)[0])
        cancel = await client.post(
            f"/admin/flash-sales/{sale_id}/cancel", data={"csrf_token": csrf_from(listing.text)}
        )
        assert cancel.status_code == 303
        assert await stock_of(sku.id) == 30
        assert "已取消" in (await client.get("/admin/flash-sales")).text

    async def test_customers_are_kept_out(self, client):
        user, _ = await customer()
        await log_in(client, user)
        assert (await client.get("/admin/flash-sales")).status_code == 403


class TestShopPages:
    async def test_the_countdown_page_and_a_refusal_on_the_sale_page(self, client):
        sku = await sku_on_sale(stock=30)
        sale = await create_flash_sale(sku, quantity=2, per_customer_limit=1)
        listing = await client.get("/flash-sales")
        assert listing.status_code == 200 and "秒杀价 ¥39.90" in listing.text and "剩余 2 / 2" in listing.text
        user, address = await customer()
        await log_in(client, user)
        page = await client.get(f"/flash-sales/{sale.id}")
        assert "立即抢购" in page.text
        form = {"address_id": str(address.id), "quantity": "1", "csrf_token": csrf_from(page.text)}
        bought = await client.post(f"/flash-sales/{sale.id}/buy", data=form)
        assert bought.status_code == 303 and "/orders/" in bought.headers["location"]
        again = await client.post(f"/flash-sales/{sale.id}/buy", data=form)
        assert again.status_code == 409 and "限购" in again.text
        assert await remaining(sale.id) == 1
        missing = await client.get("/flash-sales/999999")
        assert missing.status_code == 404
