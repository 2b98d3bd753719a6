"""Subscription pages without a browser: subscribe from the product page, 我的周期购 with its schedule and
actions, and the back office's list with the deliveries to pack."""

from __future__ import annotations

from datetime import datetime

from app.kit.time import SHOP_TZ
from app.users.models import Role
from tests.orders.factories import customer, sku_on_sale, stock_of
from tests.storefront.pages import csrf_from, log_in
from tests.subscriptions.factories import paid_subscription, pay_by_sandbox, run_job
from tests.users.factories import create_user


async def test_subscribe_pay_see_the_schedule_skip_and_cancel(client, shop_clock):
    shop_clock.set(datetime(2027, 1, 31, 10, 0, tzinfo=SHOP_TZ))
    sku = await sku_on_sale(stock=10)
    user, address = await customer()
    product = await client.get(f"/products/{sku.product_id}")
    assert f"/products/{sku.product_id}/subscribe" in product.text
    anonymous = await client.get(f"/products/{sku.product_id}/subscribe")
    assert "登录后订阅" in anonymous.text
    await log_in(client, user)
    page = await client.get(f"/products/{sku.product_id}/subscribe")
    assert page.status_code == 200 and "配送周期" in page.text
    form = {
        "sku_id": str(sku.id),
        "quantity": "1",
        "interval": "monthly",
        "periods": "3",
        "address_id": str(address.id),
        "idempotency_key": "page-subscribe-1",
        "csrf_token": csrf_from(page.text),
    }
    bad = await client.post(f"/products/{sku.product_id}/subscribe", data={**form, "interval": "daily"})
    assert bad.status_code == 422 and "请选择规格" in bad.text
    placed = await client.post(f"/products/{sku.product_id}/subscribe", data=form)
    assert placed.status_code == 303 and placed.headers["location"].startswith("/orders/")
    order_id = int(placed.headers["location"].split("/")[2].split("?")[0])
    mine = await client.get("/account/subscriptions")
    assert "待支付" in mine.text and "去支付" in mine.text
    await pay_by_sandbox(client, user, order_id)
    await run_job()
    mine = await client.get("/account/subscriptions")
    assert "配送中" in mine.text and "已发 1/3 期" in mine.text
    assert "2027-02-28" in mine.text and "2027-03-31" in mine.text and await stock_of(sku.id) == 9
    subscription_id = mine.text.split('data-subscription-id="', 1)[1].split('"', 1)[0]
    token = csrf_from(mine.text)
    skipped = await client.post(f"/account/subscriptions/{subscription_id}/skip", data={"csrf_token": token})
    assert skipped.status_code == 303
    mine = await client.get(skipped.headers["location"])
    assert "已跳过下一期" in mine.text and "2027-03-31" in mine.text and "2027-02-28" not in mine.text
    again = await client.post(f"/account/subscriptions/{subscription_id}/resume", data={"csrf_token": token})
    assert "周期购当前状态不允许" in (await client.get(again.headers["location"])).text
    cancelled = await client.post(
        f"/account/subscriptions/{subscription_id}/cancel", data={"csrf_token": token}
    )
    mine = await client.get(cancelled.headers["location"])
    assert "周期购已取消" in mine.text and "已退" in mine.text


async def test_back_office_lists_and_shows_what_to_pack(client, shop_clock):
    shop_clock.set(datetime(2027, 1, 31, 10, 0, tzinfo=SHOP_TZ))
    sku = await sku_on_sale(stock=10)
    user, address = await customer()
    await paid_subscription(client, user, address, sku, interval="weekly")
    await log_in(client, await create_user(role=Role.merchant, nickname="店员"))
    page = await client.get("/admin/subscriptions")
    assert page.status_code == 200 and "待打包配送" in page.text and "2027-02-07" in page.text
    assert "配送中" in page.text


async def test_customers_are_kept_out_of_the_back_office(client):
    user, _ = await customer()
    await log_in(client, user)
    assert (await client.get("/admin/subscriptions")).status_code == 403
