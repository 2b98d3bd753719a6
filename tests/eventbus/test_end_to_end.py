"""From a customer's action to their notification: outbox → relay → stream → consumer → API."""

from __future__ import annotations

from app.eventbus import relay
from tests.eventbus.factories import consumer, real_redis
from tests.orders.factories import customer, shipped_order, sku_on_sale
from tests.users.factories import auth


class TestOrderNotifications:
    async def test_a_shipped_order_tells_its_customer_each_step_once(self, client):
        redis = real_redis()
        user, address = await customer()
        sku = await sku_on_sale()
        order = await shipped_order(client, user, address, sku)

        await relay.drain(redis)
        await relay.drain(redis)  # nothing new: no second copy
        await (await consumer(redis)).run_until_idle()

        response = await client.get("/api/users/me/notifications", headers=auth(user))
        items = response.json()["items"]
        assert [i["title"] for i in items] == ["订单已发货", "订单已支付", "订单已创建"]
        assert all(order["order_no"] in i["body"] for i in items)
        assert items[0]["link"] == f"/orders/{order['id']}"
        assert "顺丰速运" in items[0]["body"] and "SF1234567890" in items[0]["body"]
