"""Pre-sale pages without a browser: the back office creates a pre-sale through its form and sees who is
behind on the balance; the product page shows the pre-sale; a refused order shows the pre-sale again with
the reason; a balance asked for before its window says when it opens."""

from __future__ import annotations

from app.users.models import Role
from tests.orders.factories import customer, sku_on_sale
from tests.presales.factories import create_presale, order, pay_stage, remaining
from tests.storefront.pages import csrf_from, log_in
from tests.users.factories import create_user


class TestBackOffice:
    async def test_staff_create_a_presale_with_the_form_and_see_who_is_behind(self, client):
        sku = await sku_on_sale(stock=30)
        await log_in(client, await create_user(role=Role.merchant, nickname="店员"))
        page = await client.get("/admin/presales")
        assert page.status_code == 200 and "新建预售" in page.text
        form = {
            "sku_id": str(sku.id),
            "deposit": "20",
            "balance": "68",
            "quota": "50",
            "deposit_ends_at": "2099-08-31T23:59",
            "balance_starts_at": "2099-10-01T00:00",
            "balance_ends_at": "2099-10-07T23:59",
            "ships_from": "2099-10-10T00:00",
            "csrf_token": csrf_from(page.text),
        }
        bad = await client.post("/admin/presales", data={**form, "balance_starts_at": "2099-08-01T00:00"})
        assert bad.status_code == 422 and "定金截止 ≤ 尾款开始" in bad.text
        created = await client.post("/admin/presales", data=form)
        assert created.status_code == 303 and created.headers["location"] == "/admin/presales?done=created"
        listing = await client.get("/admin/presales?done=created")
        assert (
            "预售活动已创建" in listing.text
            and "¥20.00 / ¥68.00" in listing.text
            and "50 / 50" in listing.text
        )
        presale_id = int(listing.text.split('href="/admin/presales/', 1)[1].split('"', 1)[0])
        behind = await client.get(f"/admin/presales/{presale_id}")
        assert behind.status_code == 200 and "没有尾款未付的订单" in behind.text

    async def test_behind_lists_the_buyers_whose_deposit_is_paid(self, client):
        presale = await create_presale(await sku_on_sale())
        user, address = await customer()
        placed = (await order(client, user, address, presale)).json()
        await pay_stage(client, user, placed)
        await log_in(client, await create_user(role=Role.merchant, nickname="店员"))
        behind = await client.get(f"/admin/presales/{presale.id}")
        assert placed["order_no"] in behind.text and user.phone in behind.text

    async def test_customers_are_kept_out(self, client):
        user, _ = await customer()
        await log_in(client, user)
        assert (await client.get("/admin/presales")).status_code == 403


class TestShopPages:
    async def test_product_page_presale_page_and_a_refusal(self, client):
        sku = await sku_on_sale(stock=30)
        presale = await create_presale(sku, quota=1)
        product = await client.get(f"/products/{sku.product_id}")
        assert "新米预售" in product.text and "定金 ¥20.00" in product.text and "剩余名额" in product.text
        user, address = await customer()
        await log_in(client, user)
        page = await client.get(f"/presales/{presale.id}")
        assert "支付定金预订" in page.text
        form = {"address_id": str(address.id), "quantity": "2", "csrf_token": csrf_from(page.text)}
        refused = await client.post(f"/presales/{presale.id}/order", data=form)
        assert refused.status_code == 409 and "预售名额已满" in refused.text
        placed = await client.post(f"/presales/{presale.id}/order", data={**form, "quantity": "1"})
        assert placed.status_code == 303 and placed.headers["location"] == "/presales/mine?done=placed"
        assert await remaining(presale.id) == 0
        mine = await client.get("/presales/mine?done=placed")
        assert "预售订单已提交" in mine.text and "支付定金 ¥20.00" in mine.text

    async def test_a_balance_before_its_window_says_when_it_opens(self, client):
        presale = await create_presale(await sku_on_sale())
        user, address = await customer()
        placed = (await order(client, user, address, presale)).json()
        await pay_stage(client, user, placed)
        await log_in(client, user)
        mine = await client.get("/presales/mine")
        assert "定金已付" in mine.text and "开放支付" in mine.text
        early = await client.post(
            f"/presales/orders/{placed['id']}/pay", data={"csrf_token": csrf_from(mine.text)}
        )
        assert early.status_code == 303 and "presale_balance_not_open" in early.headers["location"]
        assert "尾款尚未开始支付" in (await client.get(early.headers["location"])).text
        detail = await client.get(f"/orders/{placed['id']}")
        assert "已付定金" in detail.text and "预售定金已付，等待尾款" in detail.text
        assert "我的预售" in (await client.get("/orders?status=deposit_paid")).text


class TestShipping:
    async def test_the_back_office_refuses_to_ship_before_ships_from_and_takes_no_stock(
        self, client, shop_clock
    ):
        from datetime import timedelta

        from tests.orders.factories import get_order, stock_of

        sku = await sku_on_sale(stock=10)
        presale = await create_presale(sku)
        user, address = await customer()
        placed = (await order(client, user, address, presale, 2)).json()
        await pay_stage(client, user, placed)
        shop_clock.advance(timedelta(days=21))
        await pay_stage(client, user, placed)
        assert (await get_order(placed["id"])).status == "paid"
        await log_in(client, await create_user(role=Role.merchant, nickname="店员"))
        page = await client.get(f"/admin/orders/{placed['id']}")
        form = {"carrier": "顺丰速运", "tracking_no": "SF1234567890", "csrf_token": csrf_from(page.text)}
        early = await client.post(f"/admin/orders/{placed['id']}/ship", data=form)
        assert early.status_code == 303 and "presale_not_shippable_yet" in early.headers["location"]
        assert "未到发货日期" in (await client.get(early.headers["location"])).text
        assert await stock_of(sku.id) == 10 and (await get_order(placed["id"])).status == "paid"
        shop_clock.advance(timedelta(days=10))
        shipped = await client.post(f"/admin/orders/{placed['id']}/ship", data=form)
        assert shipped.status_code == 303 and shipped.headers["location"].endswith("done=shipped")
        assert await stock_of(sku.id) == 8 and (await get_order(placed["id"])).status == "shipped"
